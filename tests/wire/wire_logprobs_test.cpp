// troupe::wire and logprobs: SamplingParams.logprobs (and prompt_logprobs) reaches a remote
// executor and StepResult.logprobs (and prompt_logprobs) comes back whole (every value, including
// -inf and ties, bit for bit); a result without them stays empty; an older peer's result (no
// logprobs field) decodes to none.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <limits>
#include <vector>

#include "wire/wire_codec.h"

namespace troupe::wire {
namespace {

void expect_same(const SampleLogprobs& a, const SampleLogprobs& b) {
  EXPECT_EQ(std::bit_cast<uint32_t>(a.logprob), std::bit_cast<uint32_t>(b.logprob));
  ASSERT_EQ(a.top.size(), b.top.size());
  for (size_t i = 0; i < a.top.size(); ++i) {
    EXPECT_EQ(a.top[i].token, b.top[i].token) << "top " << i;
    EXPECT_EQ(std::bit_cast<uint32_t>(a.top[i].logprob), std::bit_cast<uint32_t>(b.top[i].logprob)) << "top " << i;
  }
}

// The rest of a StepResult is wire_codec_test's.
void expect_round_trip(const StepResult& x) {
  const StepResult back = decode<StepResult>(encode(x));
  EXPECT_EQ(back.sampled, x.sampled);
  ASSERT_EQ(back.logprobs.size(), x.logprobs.size());
  for (size_t i = 0; i < x.logprobs.size(); ++i) {
    SCOPED_TRACE("row " + std::to_string(i));
    expect_same(back.logprobs[i], x.logprobs[i]);
  }
}

// Three rows: one asked for 3 alternatives, one did not ask (empty), one asked for 0.
StepResult result_with_logprobs() {
  StepResult r;
  r.step_id = 42;
  r.sampled = {7, 151643, 3};
  SampleLogprobs asked;
  asked.logprob = -0.25f;
  asked.top = {{7, -0.25f}, {9, -1.5f}, {2, -1.5f}};  // a tie: lower id listed first by the engine
  SampleLogprobs zero_alternatives;
  zero_alternatives.logprob = -std::numeric_limits<float>::infinity();
  r.logprobs = {asked, SampleLogprobs{}, zero_alternatives};
  return r;
}

TEST(WireLogprobs, SamplingParamsCarryTheRequestedCount) {
  for (int32_t n : {-1, 0, 5, 20}) {
    SamplingParams p;
    p.logprobs = n;
    EXPECT_EQ(decode<SamplingParams>(encode(p)).logprobs, n);
  }
  ScheduledSequence s;
  s.sampling_params.logprobs = 20;
  EXPECT_EQ(decode<ScheduledSequence>(encode(s)).sampling_params.logprobs, 20);
}

TEST(WireLogprobs, StepResultLogprobsRoundTripEveryValue) {
  expect_round_trip(result_with_logprobs());
  // Twenty alternatives per row, a full batch of rows.
  StepResult big;
  big.step_id = 3;
  for (int32_t row = 0; row < 256; ++row) {
    big.sampled.push_back(row);
    SampleLogprobs l;
    l.logprob = -0.001f * static_cast<float>(row);
    for (int32_t k = 0; k < 20; ++k) l.top.push_back({row * 20 + k, -0.1f * static_cast<float>(k)});
    big.logprobs.push_back(std::move(l));
  }
  expect_round_trip(big);
}

TEST(WireLogprobs, AResultWithoutLogprobsStaysEmptyAndCostsOneNullPointer) {
  const StepResult plain{.step_id = 5, .sampled = {1, 2, 3}, .logprobs = {}, .prompt_logprobs = {}};
  EXPECT_TRUE(decode<StepResult>(encode(plain)).logprobs.empty());
  StepResult with = plain;
  with.logprobs.resize(3);
  EXPECT_GT(encode(with).size(), encode(plain).size());
  // Segment table, root pointer, stepId, and the three list pointers (null): no list is written.
  EXPECT_EQ(encode(StepResult{.step_id = 5, .sampled = {}, .logprobs = {}, .prompt_logprobs = {}}).size(), 48u);
}

TEST(WireLogprobs, AnOlderPeersResultHasNoLogprobs) {
  // Root StepResult with one data word (stepId = 9) and one pointer (sampled, null): what a peer
  // built before StepResult.logprobs sends.
  const uint64_t words[] = {
      uint64_t{3} << 32,                      // segment table: 1 segment, 3 words
      (uint64_t{1} << 32) | (uint64_t{1} << 48),  // struct pointer: offset 0, 1 data word, 1 pointer
      9,                                      // stepId
  };
  uint8_t bytes[sizeof(words) + 8] = {};
  std::memcpy(bytes, words, sizeof(words));
  const StepResult r = decode<StepResult>(bytes);
  EXPECT_EQ(r.step_id, 9u);
  EXPECT_TRUE(r.sampled.empty());
  EXPECT_TRUE(r.logprobs.empty());
}

void expect_same(const PromptLogprobs& a, const PromptLogprobs& b) {
  EXPECT_EQ(a.first_position, b.first_position);
  ASSERT_EQ(a.tokens.size(), b.tokens.size());
  for (size_t i = 0; i < a.tokens.size(); ++i) {
    SCOPED_TRACE("token " + std::to_string(i));
    EXPECT_EQ(a.tokens[i].token, b.tokens[i].token);
    EXPECT_EQ(a.tokens[i].rank, b.tokens[i].rank);
    expect_same(SampleLogprobs{a.tokens[i].logprob, a.tokens[i].top}, SampleLogprobs{b.tokens[i].logprob, b.tokens[i].top});
  }
}

TEST(WireLogprobs, PromptLogprobsGoOutAndComeBackWhole) {
  SamplingParams p;
  EXPECT_EQ(decode<SamplingParams>(encode(p)).prompt_logprobs, -1);  // the default: none
  for (int32_t n : {0, 3, 20}) {
    p.prompt_logprobs = n;
    EXPECT_EQ(decode<SamplingParams>(encode(p)).prompt_logprobs, n);
  }
  ScheduledSequence s;
  s.num_prompt_logprobs = 31;
  EXPECT_EQ(decode<ScheduledSequence>(encode(s)).num_prompt_logprobs, 31);
  // Two entries: a chunk that scored three prompt tokens (one the model rules out), one that asked none.
  StepResult r = result_with_logprobs();
  PromptLogprobs chunk;
  chunk.first_position = 17;
  chunk.tokens = {{5, -0.5f, 1, {{5, -0.5f}, {6, -1.0f}}},
                  {6, -std::numeric_limits<float>::infinity(), 384, {{2, -0.01f}, {9, -5.0f}}},
                  {7, -2.0f, 3, {}}};
  r.prompt_logprobs = {chunk, PromptLogprobs{}};
  const StepResult back = decode<StepResult>(encode(r));
  ASSERT_EQ(back.prompt_logprobs.size(), 2u);
  expect_same(back.prompt_logprobs[0], chunk);
  expect_same(back.prompt_logprobs[1], PromptLogprobs{});
  expect_round_trip(back);  // the sampled rows' logprobs beside them untouched
  // The older peer above (no promptLogprobs field) answers none.
  EXPECT_TRUE(decode<StepResult>(encode(result_with_logprobs())).prompt_logprobs.empty());
}

TEST(WireLogprobs, TextFormNamesTheFields) {
  const std::string text = to_text(result_with_logprobs());
  EXPECT_NE(text.find("logprobs = [(logprob = -0.25, top = [(token = 7, logprob = -0.25)"), std::string::npos) << text;
  EXPECT_NE(text.find("logprob = -inf"), std::string::npos) << text;
}

}  // namespace
}  // namespace troupe::wire
