// SseParser: the events do not depend on how the bytes are split, whatever line ends are used.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bench/loadgen/sse_parser.h"

namespace troupe::loadgen {
namespace {

std::vector<std::string> parse_in_pieces(std::string_view stream, const std::vector<size_t>& cuts) {
  std::vector<std::string> events;
  SseParser p;
  const auto on_event = [&](std::string_view d) { events.emplace_back(d); };
  size_t from = 0;
  for (const size_t cut : cuts) {
    p.feed(stream.substr(from, cut - from), on_event);
    from = cut;
  }
  p.feed(stream.substr(from), on_event);
  p.finish(on_event);
  return events;
}

// LF, CRLF and lone CR line ends, a comment, other fields, a multi-line event, an empty data field.
const std::string kStream =
    "\xEF\xBB\xBF: keep-alive\n"
    "data: {\"a\":1}\n\n"
    "event: message\r\nid: 7\r\ndata:{\"b\":2}\r\n\r\n"
    "data: line one\rdata: line two\r\r"
    "retry: 100\n\n"
    "data\n\n"
    "data: [DONE]\n\n";
const std::vector<std::string> kEvents = {"{\"a\":1}", "{\"b\":2}", "line one\nline two", "", "[DONE]"};

TEST(SseParser, WholeStreamGivesEveryDataEvent) { EXPECT_EQ(parse_in_pieces(kStream, {}), kEvents); }

TEST(SseParser, SplitAtEveryBytePositionGivesTheSameEvents) {
  for (size_t cut = 0; cut <= kStream.size(); ++cut) EXPECT_EQ(parse_in_pieces(kStream, {cut}), kEvents) << "cut " << cut;
}

TEST(SseParser, SplitAtEveryPairOfPositionsGivesTheSameEvents) {
  for (size_t a = 0; a <= kStream.size(); ++a)
    for (size_t b = a; b <= kStream.size(); ++b) ASSERT_EQ(parse_in_pieces(kStream, {a, b}), kEvents) << a << "," << b;
}

TEST(SseParser, OneByteAtATimeGivesTheSameEvents) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < kStream.size(); ++i) cuts.push_back(i);
  EXPECT_EQ(parse_in_pieces(kStream, cuts), kEvents);
}

TEST(SseParser, CrAtChunkEndThenLfIsOneLineEnd) {
  // "\r" | "\n" must not read as two line ends (which would end the event early, twice).
  EXPECT_EQ(parse_in_pieces("data: x\r\ndata: y\r\n\r\n", {8}), std::vector<std::string>{"x\ny"});
}

TEST(SseParser, FinishDeliversAnEventWithoutItsBlankLine) {
  EXPECT_EQ(parse_in_pieces("data: a\n\ndata: [DONE]", {}), (std::vector<std::string>{"a", "[DONE]"}));
  EXPECT_EQ(parse_in_pieces("data: a\n\ndata: [DONE]\n", {}), (std::vector<std::string>{"a", "[DONE]"}));
}

TEST(SseParser, CommentsAndUnknownFieldsAloneMakeNoEvent) {
  EXPECT_TRUE(parse_in_pieces(": ping\n\nevent: x\nid: 1\n\n", {}).empty());
}

}  // namespace
}  // namespace troupe::loadgen
