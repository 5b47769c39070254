#pragma once
// Shared by the wire codec tests: field-by-field comparisons (floats by bit pattern) and values
// with every field away from its default.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include "wire/troupe.capnp.h"
#include "wire/wire_codec.h"
#include "tests/wire/wire_future.capnp.h"

namespace troupe::wire {

// -- comparison ------------------------------------------------------------------------------------

// Floats compare by bit pattern so that -0.0, infinities and NaN payloads must survive too.
#define EXPECT_SAME_FLOAT(a, b) EXPECT_EQ(std::bit_cast<uint32_t>(a), std::bit_cast<uint32_t>(b)) << #a

inline void expect_same(const SamplingParams& a, const SamplingParams& b) {
  EXPECT_SAME_FLOAT(a.temperature, b.temperature);
  EXPECT_EQ(a.top_k, b.top_k);
  EXPECT_SAME_FLOAT(a.top_p, b.top_p);
  EXPECT_SAME_FLOAT(a.min_p, b.min_p);
  EXPECT_SAME_FLOAT(a.repetition_penalty, b.repetition_penalty);
  EXPECT_SAME_FLOAT(a.presence_penalty, b.presence_penalty);
  EXPECT_SAME_FLOAT(a.frequency_penalty, b.frequency_penalty);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.max_tokens, b.max_tokens);
  EXPECT_EQ(a.ignore_eos, b.ignore_eos);
  EXPECT_EQ(a.logprobs, b.logprobs);
  EXPECT_EQ(a.min_tokens, b.min_tokens);
  EXPECT_EQ(a.stop_token_ids, b.stop_token_ids);
  ASSERT_EQ(a.logit_bias.size(), b.logit_bias.size());
  for (size_t i = 0; i < a.logit_bias.size(); ++i) {
    EXPECT_EQ(a.logit_bias[i].first, b.logit_bias[i].first);
    EXPECT_SAME_FLOAT(a.logit_bias[i].second, b.logit_bias[i].second);
  }
  EXPECT_EQ(a.prompt_logprobs, b.prompt_logprobs);
}

inline void expect_same(const GenerationRequest& a, const GenerationRequest& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.prompt_token_ids, b.prompt_token_ids);
  expect_same(a.sampling_params, b.sampling_params);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.arrival, b.arrival);
  EXPECT_EQ(a.output_token_ids, b.output_token_ids);
}

inline void expect_same(const ScheduledSequence& a, const ScheduledSequence& b) {
  EXPECT_EQ(a.seq_id, b.seq_id);
  EXPECT_EQ(a.is_new, b.is_new);
  EXPECT_EQ(a.prompt_token_ids, b.prompt_token_ids);
  EXPECT_EQ(a.output_token_ids, b.output_token_ids);
  EXPECT_EQ(a.num_computed_tokens, b.num_computed_tokens);
  EXPECT_EQ(a.token_ids, b.token_ids);
  EXPECT_EQ(a.new_block_ids, b.new_block_ids);
  EXPECT_EQ(a.wants_logits, b.wants_logits);
  EXPECT_EQ(a.num_output_tokens, b.num_output_tokens);
  expect_same(a.sampling_params, b.sampling_params);
  EXPECT_EQ(a.num_prompt_logprobs, b.num_prompt_logprobs);
}

inline void expect_same(const StepPlan& a, const StepPlan& b) {
  EXPECT_EQ(a.step_id, b.step_id);
  EXPECT_EQ(a.block_size, b.block_size);
  ASSERT_EQ(a.sequences.size(), b.sequences.size());
  for (size_t i = 0; i < a.sequences.size(); ++i) {
    SCOPED_TRACE("sequence " + std::to_string(i));
    expect_same(a.sequences[i], b.sequences[i]);
  }
  EXPECT_EQ(a.finished_seq_ids, b.finished_seq_ids);
  EXPECT_EQ(a.preempted_seq_ids, b.preempted_seq_ids);
  EXPECT_EQ(a.num_batched_tokens, b.num_batched_tokens);
  EXPECT_EQ(a.num_cached_tokens, b.num_cached_tokens);
}

inline void expect_same(const StepResult& a, const StepResult& b) {
  EXPECT_EQ(a.step_id, b.step_id);
  EXPECT_EQ(a.sampled, b.sampled);
  EXPECT_EQ(a.logprobs.size(), b.logprobs.size());  // their contents: wire_logprobs_test.cpp
  EXPECT_EQ(a.prompt_logprobs.size(), b.prompt_logprobs.size());
}

inline void expect_same(const KvPoolShape& a, const KvPoolShape& b) {
  EXPECT_EQ(a.num_blocks, b.num_blocks);
  EXPECT_EQ(a.block_size, b.block_size);
}

inline void expect_same(const FinishedSequence& a, const FinishedSequence& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.output_token_ids, b.output_token_ids);
  EXPECT_EQ(a.reason, b.reason);
}

template <class T>
inline T round_trip(const T& x) {
  const std::vector<uint8_t> bytes = encode(x);
  EXPECT_EQ(bytes.size() % 8, 0u);
  return decode<T>(bytes);
}

template <class T>
inline void expect_round_trip(const T& x) {
  expect_same(round_trip(x), x);
}

// -- values with every field away from its default ------------------------------------------------

inline std::vector<int32_t> ramp(size_t n, int32_t start, int32_t step = 1) {
  std::vector<int32_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + static_cast<int32_t>(i) * step;
  return v;
}

inline SamplingParams full_params(uint64_t salt) {
  SamplingParams p;
  p.temperature = 0.7f + static_cast<float>(salt);
  p.top_k = 40 + static_cast<int32_t>(salt);
  p.top_p = 0.9f;
  p.min_p = 0.05f;
  p.repetition_penalty = 1.1f;
  p.presence_penalty = -0.5f;
  p.frequency_penalty = 0.25f;
  p.seed = 0xDEADBEEFCAFEF00Dull + salt;
  p.max_tokens = 512;
  p.ignore_eos = true;
  p.logprobs = 5 + static_cast<int32_t>(salt);
  p.min_tokens = 2 + static_cast<int32_t>(salt);
  p.stop_token_ids = {7, 151643 + static_cast<int32_t>(salt)};
  p.logit_bias = {{11, -100.0f}, {12 + static_cast<int32_t>(salt), 2.5f}};
  p.prompt_logprobs = 1 + static_cast<int32_t>(salt);
  return p;
}

inline ScheduledSequence full_sequence(uint64_t id) {
  ScheduledSequence s;
  s.seq_id = (uint64_t{1} << 40) + id;
  s.is_new = true;
  s.prompt_token_ids = ramp(37, 100);
  s.output_token_ids = {7, 8, 9};
  s.num_computed_tokens = 32;
  s.token_ids = {140, 141, 142, 143, 144, 145, 146, 147};
  s.new_block_ids = {9, 4, 11};
  s.wants_logits = true;
  s.num_output_tokens = 3;
  s.sampling_params = full_params(id);
  s.num_prompt_logprobs = 4;
  return s;
}

inline StepPlan full_plan() {
  StepPlan p;
  p.step_id = 0x0123456789ABCDEFull;
  p.block_size = 32;
  for (uint64_t i = 0; i < 3; ++i) p.sequences.push_back(full_sequence(i));
  p.sequences[1].is_new = false;  // a decode entry: no prompt, no output history
  p.sequences[1].prompt_token_ids.clear();
  p.sequences[1].output_token_ids.clear();
  p.sequences[1].sampling_params.seed.reset();
  p.sequences[1].new_block_ids = {};  // a decode that stays in its last block: nothing new
  p.finished_seq_ids = {5, std::numeric_limits<uint64_t>::max()};
  p.preempted_seq_ids = {6};
  p.num_batched_tokens = 24;
  p.num_cached_tokens = 16;
  return p;
}

inline GenerationRequest full_request() {
  GenerationRequest r;
  r.id = 0xFFFFFFFF00000001ull;
  r.prompt_token_ids = ramp(100, -50);
  r.sampling_params = full_params(3);
  r.eos_token_ids = {151643, 151645};
  r.priority = -3;
  r.arrival = 123456789012ull;
  r.output_token_ids = {1, 2, 3, 4};
  return r;
}

}  // namespace troupe::wire
