// wire/caf_wire_inspect.h: through CAF's binary serializer, the engine's cluster values are
// exactly their Cap'n Proto wire messages (behind CAF's length prefix); they come back whole;
// malformed bytes become a caf::error rather than a crash; deep_to_string stays readable.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/sec.hpp>

#include "wire/caf_wire_inspect.h"

namespace troupe {
namespace {

StepPlan sample_plan() {
  StepPlan plan;
  plan.step_id = 9;
  plan.block_size = 16;
  ScheduledSequence s;
  s.seq_id = 3;
  s.is_new = true;
  s.prompt_token_ids = {1, 2, 3};
  s.output_token_ids = {4};
  s.num_computed_tokens = 0;
  s.token_ids = {1, 2, 3, 4};
  s.new_block_ids = {5};
  s.wants_logits = true;
  s.num_output_tokens = 1;
  s.sampling_params.seed = 42;
  s.sampling_params.top_p = 0.5f;
  s.sampling_params.temperature = 0.8f;
  plan.sequences.push_back(s);
  s.seq_id = 4;
  s.is_new = false;
  s.prompt_token_ids.clear();
  s.output_token_ids.clear();
  s.sampling_params.seed.reset();
  plan.sequences.push_back(s);
  plan.finished_seq_ids = {7};
  plan.preempted_seq_ids = {8, 10};
  plan.num_batched_tokens = 8;
  plan.num_cached_tokens = 2;
  return plan;
}

class CafWire : public ::testing::Test {
 protected:
  caf::actor_system_config cfg_;
  caf::actor_system sys_{cfg_};

  template <class T>
  std::vector<char> save(T& x) {
    std::vector<char> buf;
    caf::binary_serializer out{sys_, buf};
    EXPECT_FALSE(out(x));
    return buf;
  }

  template <class T>
  T load(const std::vector<char>& buf) {
    T x;
    caf::binary_deserializer in{sys_, buf};
    const caf::error err = in(x);
    EXPECT_FALSE(err) << sys_.render(err);
    return x;
  }

  template <class T>
  T round_trip(T x) {
    auto buf = save(x);
    return load<T>(buf);
  }
};

// CAF 0.17's length prefix: LEB128 of the byte count.
std::vector<char> leb128(size_t n) {
  std::vector<char> out;
  while (n > 0x7f) {
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
  return out;
}

TEST_F(CafWire, StepPlanRoundTripsThroughTheBinarySerializer) {
  StepPlan plan = sample_plan();
  const StepPlan back = round_trip(plan);
  EXPECT_EQ(wire::encode(back), wire::encode(plan));  // field for field (encoding is canonical)
  EXPECT_EQ(caf::deep_to_string(back), caf::deep_to_string(plan));
  ASSERT_EQ(back.sequences.size(), 2u);
  EXPECT_EQ(back.sequences[0].sampling_params.seed, std::optional<uint64_t>(42));
  EXPECT_EQ(back.sequences[1].sampling_params.seed, std::nullopt);
  EXPECT_EQ(back.sequences[0].new_block_ids, plan.sequences[0].new_block_ids);
  EXPECT_EQ(back.preempted_seq_ids, plan.preempted_seq_ids);
  EXPECT_FLOAT_EQ(back.sequences[0].sampling_params.top_p, 0.5f);
}

TEST_F(CafWire, WhatCafWritesIsTheSchemaMessage) {
  StepPlan plan = sample_plan();
  const std::vector<uint8_t> message = wire::encode(plan);
  std::vector<char> expected = leb128(message.size());
  expected.insert(expected.end(), message.begin(), message.end());
  EXPECT_EQ(save(plan), expected);
}

TEST_F(CafWire, EveryTypeRoundTrips) {
  GenerationRequest r;
  r.id = 12;
  r.prompt_token_ids = {5, 6, 7};
  r.sampling_params.seed = 0;
  r.sampling_params.max_tokens = 99;
  r.eos_token_ids = {2};
  r.priority = -1;
  r.arrival = 77;
  r.output_token_ids = {8};
  EXPECT_EQ(wire::encode(round_trip(r)), wire::encode(r));
  r.arrival.reset();
  EXPECT_EQ(round_trip(r).arrival, std::nullopt);

  SamplingParams p;
  p.temperature = 0.0f;
  p.ignore_eos = true;
  EXPECT_EQ(wire::encode(round_trip(p)), wire::encode(p));

  ScheduledSequence s = sample_plan().sequences[0];
  EXPECT_EQ(wire::encode(round_trip(s)), wire::encode(s));

  StepResult res{.step_id = 4, .sampled = {1, 2, 3}, .logprobs = {{}, {-0.5f, {{2, -0.5f}}}, {}}, .prompt_logprobs = {}};
  EXPECT_EQ(round_trip(res).sampled, res.sampled);
  EXPECT_EQ(wire::encode(round_trip(res)), wire::encode(res));

  KvPoolShape shape{.num_blocks = 1000, .block_size = 32};
  EXPECT_EQ(round_trip(shape).num_blocks, 1000);
  EXPECT_EQ(round_trip(shape).block_size, 32);

  FinishedSequence f{.id = 5, .output_token_ids = {1, 2}, .reason = SequenceFinishReason::Abort};
  const FinishedSequence fb = round_trip(f);
  EXPECT_EQ(fb.reason, SequenceFinishReason::Abort);
  EXPECT_EQ(fb.output_token_ids, f.output_token_ids);
}

TEST_F(CafWire, NestedInOtherInspectedValues) {
  // FinishedBatch in actors/messages.h inspects a std::vector<FinishedSequence>: each element is
  // then its own schema message.
  std::vector<FinishedSequence> batch = {
      {.id = 1, .output_token_ids = {3}, .reason = SequenceFinishReason::Stop},
      {.id = 2, .output_token_ids = {}, .reason = SequenceFinishReason::Length},
  };
  const auto back = round_trip(batch);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].id, 1u);
  EXPECT_EQ(back[0].reason, SequenceFinishReason::Stop);
  EXPECT_EQ(back[1].reason, SequenceFinishReason::Length);
}

TEST_F(CafWire, MalformedBytesBecomeACafErrorNotACrash) {
  std::vector<uint8_t> garbage(64, 0xAB);
  std::vector<char> buf;
  caf::binary_serializer out{sys_, buf};
  ASSERT_FALSE(out(garbage));  // a well-formed CAF byte sequence holding a bad schema message
  StepPlan x;
  caf::binary_deserializer in{sys_, buf};
  const caf::error err = in(x);
  ASSERT_TRUE(err);
  EXPECT_EQ(err.category(), caf::atom("system"));
  EXPECT_EQ(err.code(), static_cast<uint8_t>(caf::sec::invalid_argument));
  EXPECT_NE(sys_.render(err).find("troupe::wire: cannot decode StepPlan"), std::string::npos) << sys_.render(err);

  // Truncated CAF buffers fail in CAF itself, before the codec sees anything.
  StepPlan plan = sample_plan();
  auto good = save(plan);
  for (size_t n = 0; n < good.size(); n += 7) {
    std::vector<char> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    StepPlan y;
    caf::binary_deserializer cut_in{sys_, cut};
    EXPECT_TRUE(cut_in(y)) << "decoded a plan cut to " << n << " bytes";
  }
}

TEST_F(CafWire, DeepToStringPrintsTheSchemaTextForm) {
  const std::string text = caf::deep_to_string(sample_plan());
  EXPECT_EQ(text.rfind("StepPlan(", 0), 0u) << text;
  EXPECT_NE(text.find("stepId = 9"), std::string::npos) << text;
  EXPECT_NE(text.find("seed = (value = 42)"), std::string::npos) << text;
  const std::string shape = caf::deep_to_string(KvPoolShape{.num_blocks = 3, .block_size = 16});
  EXPECT_NE(shape.find("numBlocks = 3"), std::string::npos) << shape;
}

}  // namespace
}  // namespace troupe
