// CompletionStreamReader: which chunks count as content, where the token counts come from, and
// what makes a stream fail.
#include <gtest/gtest.h>

#include "bench/loadgen/completion_stream.h"

namespace troupe::loadgen {
namespace {

using std::chrono::milliseconds;

std::string text_chunk(const std::string& text) {
  return "data: {\"choices\":[{\"index\":0,\"text\":\"" + text + "\",\"finish_reason\":null}]}\n\n";
}
const std::string kUsage = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":9}}\n\n";
const std::string kDone = "data: [DONE]\n\n";

TEST(CompletionStream, TimesContentChunksAndTakesTokenCountsFromUsage) {
  const Clock::time_point t0{};
  CompletionStreamReader r(t0, 100);
  r.on_bytes(text_chunk("a"), t0 + milliseconds(50));
  r.on_bytes(text_chunk("b"), t0 + milliseconds(60));
  r.on_bytes(text_chunk("") + text_chunk("c"), t0 + milliseconds(80));  // an empty text is not content
  r.on_bytes(kUsage + kDone, t0 + milliseconds(90));
  EXPECT_TRUE(r.saw_done());
  const RequestRecord rec = r.finish(t0 + milliseconds(90));
  ASSERT_TRUE(rec.ok) << rec.error;
  EXPECT_DOUBLE_EQ(rec.ttft_s, 0.050);
  EXPECT_DOUBLE_EQ(rec.e2e_s, 0.090);
  ASSERT_EQ(rec.itl_s.size(), 2u);
  EXPECT_NEAR(rec.itl_s[0], 0.010, 1e-12);
  EXPECT_NEAR(rec.itl_s[1], 0.020, 1e-12);
  EXPECT_EQ(rec.content_chunks, 3);
  EXPECT_EQ(rec.output_tokens, 9);  // usage wins over the chunk count
  EXPECT_EQ(rec.prompt_tokens, 7);
  EXPECT_NEAR(rec.tpot_s(), 0.040 / 8, 1e-12);
}

TEST(CompletionStream, WithoutUsageCountsContentChunks) {
  CompletionStreamReader r(Clock::time_point{}, 12);
  r.on_bytes(text_chunk("a") + text_chunk("b") + kDone, Clock::time_point{} + milliseconds(5));
  const RequestRecord rec = r.finish(Clock::time_point{} + milliseconds(5));
  ASSERT_TRUE(rec.ok) << rec.error;
  EXPECT_EQ(rec.output_tokens, 2);
  EXPECT_EQ(rec.prompt_tokens, 12);  // as planned
}

TEST(CompletionStream, ChatRoleChunkIsNotContentButDeltaContentIs) {
  const Clock::time_point t0{};
  CompletionStreamReader r(t0, 1);
  r.on_bytes("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n", t0 + milliseconds(10));
  r.on_bytes("data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n", t0 + milliseconds(30));
  r.on_bytes("data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}]}\n\n" + kDone, t0 + milliseconds(40));
  const RequestRecord rec = r.finish(t0 + milliseconds(40));
  ASSERT_TRUE(rec.ok) << rec.error;
  EXPECT_DOUBLE_EQ(rec.ttft_s, 0.030);
  EXPECT_EQ(rec.content_chunks, 1);
}

TEST(CompletionStream, ErrorEventFailsTheRequest) {
  CompletionStreamReader r(Clock::time_point{}, 1);
  r.on_bytes(text_chunk("a") + "data: {\"error\":{\"message\":\"out of blocks\",\"code\":400}}\n\n", {});
  const RequestRecord rec = r.finish({});
  EXPECT_FALSE(rec.ok);
  EXPECT_NE(rec.error.find("out of blocks"), std::string::npos) << rec.error;
}

TEST(CompletionStream, MalformedJsonFailsTheRequest) {
  CompletionStreamReader r(Clock::time_point{}, 1);
  r.on_bytes("data: {\"choices\":[{\"text\":\"a\"\n\n" + kDone, {});
  const RequestRecord rec = r.finish({});
  EXPECT_FALSE(rec.ok);
  EXPECT_NE(rec.error.find("malformed"), std::string::npos) << rec.error;
}

TEST(CompletionStream, StreamWithoutDoneOrWithoutContentFails) {
  CompletionStreamReader cut(Clock::time_point{}, 1);
  cut.on_bytes(text_chunk("a"), {});
  EXPECT_NE(cut.finish({}).error.find("[DONE]"), std::string::npos);
  CompletionStreamReader empty(Clock::time_point{}, 1);
  empty.on_bytes(kDone, {});
  EXPECT_NE(empty.finish({}).error.find("no content"), std::string::npos);
}

}  // namespace
}  // namespace troupe::loadgen
