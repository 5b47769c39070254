// StopStringFilter: what a client receives of an output with stop strings — nothing that might
// still become a stop string, the output cut where one matches, and always the tokens of exactly
// the text sent.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/output/stop_string_filter.h"

namespace troupe {
namespace {

// Everything a client got, in order: the text and, per token, its id and text share.
struct Received {
  std::string text;
  std::vector<int32_t> ids;
  std::vector<std::string> shares;
  void add(StopStringFilter::Release r) {
    text += r.text;
    for (const GeneratedToken& t : r.tokens) {
      ids.push_back(t.id);
      shares.push_back(t.text);
    }
  }
};

GeneratedToken token(int32_t id, std::string text) { return GeneratedToken{id, std::move(text), {}}; }

TEST(StopStringFilter, WithoutStopStringsEveryTokenGoesAtOnce) {
  StopStringFilter f({}, false);
  const auto r = f.push(token(1, "Hello"));
  EXPECT_EQ(r.text, "Hello");
  ASSERT_EQ(r.tokens.size(), 1u);
  EXPECT_EQ(r.tokens[0].id, 1);
  EXPECT_TRUE(f.push(token(2, "")).text.empty());  // a silent token still goes, with no text
}

TEST(StopStringFilter, TextThatMayStartAStopStringWaitsForTheNextToken) {
  StopStringFilter f({"ing"}, false);
  Received got;
  got.add(f.push(token(1, "go")));
  EXPECT_EQ(got.text, "go");
  got.add(f.push(token(2, "in")));  // "in" may become "ing"
  EXPECT_EQ(got.text, "go");
  EXPECT_EQ(got.ids, (std::vector<int32_t>{1}));
  got.add(f.push(token(3, "to")));  // "into": it did not
  EXPECT_EQ(got.text, "gointo");
  EXPECT_EQ(got.ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_FALSE(f.stopped());
}

TEST(StopStringFilter, AMatchAcrossTokensCutsTheTokenItStartsIn) {
  StopStringFilter f({"art"}, false);
  Received got;
  got.add(f.push(token(1, "sta")));
  got.add(f.push(token(2, "rt")));
  got.add(f.push(token(3, "ed")));  // after the stop: nothing more goes
  EXPECT_TRUE(f.stopped());
  EXPECT_EQ(got.text, "st");
  EXPECT_EQ(got.ids, (std::vector<int32_t>{1}));
  EXPECT_EQ(got.shares, (std::vector<std::string>{"st"}));
  got.add(f.finish("tail"));
  EXPECT_EQ(got.text, "st");
}

TEST(StopStringFilter, IncludeStopSendsTheMatchAndTheTokensThatMadeIt) {
  StopStringFilter f({"art"}, true);
  Received got;
  got.add(f.push(token(1, "sta")));
  got.add(f.push(token(2, "rting")));
  EXPECT_TRUE(f.stopped());
  EXPECT_EQ(got.text, "start");
  EXPECT_EQ(got.ids, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(got.shares, (std::vector<std::string>{"sta", "rt"}));
}

TEST(StopStringFilter, TheEarliestMatchWinsAndEmptyStopStringsAreIgnored) {
  StopStringFilter f({"", "world", "o w"}, false);
  Received got;
  got.add(f.push(token(1, "hello world")));
  EXPECT_TRUE(f.stopped());
  EXPECT_EQ(got.text, "hell");
  EXPECT_EQ(got.shares, (std::vector<std::string>{"hell"}));
}

TEST(StopStringFilter, FinishSendsWhatWasHeldAndTheDetokenizersTailWithTheLastToken) {
  StopStringFilter f({"ing"}, false);
  Received got;
  got.add(f.push(token(1, "go")));
  got.add(f.push(token(2, "in")));
  got.add(f.finish("\xEF\xBF\xBD"));  // an unfinished character, flushed as U+FFFD
  EXPECT_EQ(got.text, "goin\xEF\xBF\xBD");
  EXPECT_EQ(got.ids, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(got.shares.back(), "in\xEF\xBF\xBD");
}

TEST(StopStringFilter, AStopStringCompletedByTheFinalFlushStillCuts) {
  StopStringFilter f({"ab"}, false);
  Received got;
  got.add(f.push(token(1, "xa")));
  got.add(f.finish("b"));
  EXPECT_EQ(got.text, "x");
  EXPECT_EQ(got.shares, (std::vector<std::string>{"x"}));
}

TEST(EmittablePrefix, HoldsTheLongestTailThatStartsAStopString) {
  bool stopped = true;
  EXPECT_EQ(emittable_prefix("abcab", {"abd", "bx"}, stopped), 3u);  // "ab" may become "abd"
  EXPECT_FALSE(stopped);
  EXPECT_EQ(emittable_prefix("abc", {"zz"}, stopped), 3u);
  EXPECT_EQ(emittable_prefix("xxSTOPyy", {"STOP"}, stopped, /*include_stop=*/true), 6u);
  EXPECT_TRUE(stopped);
}

}  // namespace
}  // namespace troupe
