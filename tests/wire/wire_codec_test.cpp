// troupe::wire: every cluster value survives encode -> decode with every field set, compactly,
// deterministically and from unaligned memory; the structs have exactly the fields the schema knows.
#include <gtest/gtest.h>

#include "tests/wire/wire_test_values.h"

namespace troupe::wire {
namespace {

// -- round trips -----------------------------------------------------------------------------------

TEST(WireCodec, SamplingParamsRoundTripsEveryField) {
  SamplingParams p = full_params(1);
  expect_round_trip(p);
  p.seed.reset();
  expect_round_trip(p);
  p.seed = 0;  // present and zero is not absent
  EXPECT_EQ(round_trip(p).seed, std::optional<uint64_t>(0));
  p.seed = std::numeric_limits<uint64_t>::max();
  expect_round_trip(p);
}

TEST(WireCodec, SamplingParamsKeepsExtremeFloatsAndInts) {
  SamplingParams p;
  p.temperature = -0.0f;
  p.top_k = std::numeric_limits<int32_t>::min();
  p.top_p = std::numeric_limits<float>::infinity();
  p.min_p = std::numeric_limits<float>::denorm_min();
  p.repetition_penalty = std::numeric_limits<float>::quiet_NaN();
  p.presence_penalty = -std::numeric_limits<float>::infinity();
  p.frequency_penalty = std::numeric_limits<float>::max();
  p.max_tokens = std::numeric_limits<int32_t>::max();
  expect_round_trip(p);
}

TEST(WireCodec, GenerationRequestRoundTripsEveryField) {
  GenerationRequest r = full_request();
  expect_round_trip(r);
  r.arrival.reset();
  r.sampling_params.seed.reset();
  expect_round_trip(r);
  r.arrival = 0;
  EXPECT_EQ(round_trip(r).arrival, std::optional<uint64_t>(0));
  r.eos_token_ids.clear();
  r.output_token_ids.clear();
  expect_round_trip(r);
}

TEST(WireCodec, ScheduledSequenceRoundTripsEveryField) {
  expect_round_trip(full_sequence(4));
  ScheduledSequence s = full_sequence(5);
  s.sampling_params.seed.reset();
  s.prompt_token_ids.clear();
  s.output_token_ids.clear();
  expect_round_trip(s);
}

TEST(WireCodec, StepPlanRoundTripsEveryField) { expect_round_trip(full_plan()); }

// A plan made while the previous step runs names the token the executor sampled last.
TEST(WireCodec, PlaceholderDecodeTokenRoundTrips) {
  StepPlan plan = full_plan();
  ScheduledSequence& s = plan.sequences.at(0);
  s.is_new = false;
  s.prompt_token_ids.clear();
  s.output_token_ids.clear();
  s.token_ids = {kTokenSampledByExecutor};
  s.new_block_ids = {};
  expect_round_trip(plan);
  EXPECT_EQ(decode_step_plan(encode(plan)).sequences.at(0).token_ids, std::vector<int32_t>{-1});
}

TEST(WireCodec, StepResultKvPoolShapeAndFinishedSequenceRoundTrip) {
  expect_round_trip(StepResult{.step_id = 77, .sampled = {3, -1, std::numeric_limits<int32_t>::max()}, .logprobs = {}, .prompt_logprobs = {}});
  expect_round_trip(KvPoolShape{.num_blocks = 123456, .block_size = 64});
  for (auto reason : {SequenceFinishReason::Stop, SequenceFinishReason::Length, SequenceFinishReason::Abort}) {
    FinishedSequence f{.id = 99, .output_token_ids = {5, 6, 151643}, .reason = reason};
    expect_round_trip(f);
  }
}

TEST(WireCodec, BackendCapabilitiesRoundTrip) {
  for (bool logit : {false, true})
    for (bool prompt : {false, true}) {
      const BackendCapabilities c{.applies_logit_adjustments = logit, .computes_prompt_logprobs = prompt};
      EXPECT_EQ(decode<BackendCapabilities>(encode(c)), c) << to_text(c);
    }
  EXPECT_EQ(to_text(BackendCapabilities{true, false}), "(appliesLogitAdjustments = true, computesPromptLogprobs = false)");
}

TEST(WireCodec, EmptyVectorsStayEmpty) {
  StepPlan p;
  p.step_id = 1;
  p.sequences.push_back(ScheduledSequence{});  // every list empty
  expect_round_trip(p);
  expect_round_trip(StepResult{.step_id = 2, .sampled = {}, .logprobs = {}, .prompt_logprobs = {}});
  expect_round_trip(FinishedSequence{.id = 3, .output_token_ids = {}, .reason = SequenceFinishReason::Abort});
  GenerationRequest r;
  r.id = 4;
  expect_round_trip(r);
}

TEST(WireCodec, DefaultConstructedValuesRoundTrip) {
  expect_round_trip(SamplingParams{});
  expect_round_trip(GenerationRequest{});
  expect_round_trip(ScheduledSequence{});
  expect_round_trip(StepPlan{});
  expect_round_trip(StepResult{});
  expect_round_trip(KvPoolShape{});
  expect_round_trip(FinishedSequence{});
}

TEST(WireCodec, LargeValuesRoundTripAcrossSeveralSegments) {
  StepPlan p;
  p.step_id = 5;
  for (uint64_t i = 0; i < 256; ++i) {
    ScheduledSequence s = full_sequence(i);
    s.prompt_token_ids = ramp(4096 + i, static_cast<int32_t>(i));
    s.new_block_ids = ramp(260, 0, 3);
    p.sequences.push_back(std::move(s));
  }
  p.finished_seq_ids.assign(10000, 42);
  const std::vector<uint8_t> bytes = encode(p);
  uint32_t segments_minus_one = 0;
  std::memcpy(&segments_minus_one, bytes.data(), 4);
  EXPECT_GT(segments_minus_one, 0u) << "expected the builder to spill into several segments";
  EXPECT_GT(bytes.size(), size_t{4} << 20);
  expect_same(decode<StepPlan>(bytes), p);

  GenerationRequest r = full_request();
  r.prompt_token_ids = ramp(1 << 20, -7, 3);  // a 1M-token prompt, 4 MiB on the wire
  expect_round_trip(r);
  expect_round_trip(StepResult{.step_id = 6, .sampled = ramp(100000, 1), .logprobs = {}, .prompt_logprobs = {}});
}

TEST(WireCodec, EncodingIsDeterministicAndCompact) {
  EXPECT_EQ(encode(full_plan()), encode(full_plan()));
  // Segment table (8) + root pointer (8) + KvPoolShape's one data word (8).
  EXPECT_EQ(encode(KvPoolShape{.num_blocks = 1, .block_size = 2}).size(), 24u);
}

TEST(WireCodec, DecodesFromUnalignedMemory) {
  const std::vector<uint8_t> bytes = encode(full_plan());
  for (size_t shift = 1; shift < 8; ++shift) {
    std::vector<uint8_t> storage(bytes.size() + 8);
    std::memcpy(storage.data() + shift, bytes.data(), bytes.size());
    const std::span<const uint8_t> unaligned(storage.data() + shift, bytes.size());
    ASSERT_NE(reinterpret_cast<uintptr_t>(unaligned.data()) % 8, 0u);
    expect_same(decode<StepPlan>(unaligned), full_plan());
  }
}

TEST(WireCodec, NamedDecodersMatchTheTemplate) {
  expect_same(decode_step_plan(encode(full_plan())), full_plan());
  expect_same(decode_generation_request(encode(full_request())), full_request());
  expect_same(decode_sampling_params(encode(full_params(2))), full_params(2));
  expect_same(decode_scheduled_sequence(encode(full_sequence(2))), full_sequence(2));
  expect_same(decode_step_result(encode(StepResult{.step_id = 1, .sampled = {2}, .logprobs = {}, .prompt_logprobs = {}})), StepResult{.step_id = 1, .sampled = {2}, .logprobs = {}, .prompt_logprobs = {}});
  expect_same(decode_kv_pool_shape(encode(KvPoolShape{.num_blocks = 3, .block_size = 8})), KvPoolShape{.num_blocks = 3, .block_size = 8});
  const FinishedSequence f{.id = 1, .output_token_ids = {2}, .reason = SequenceFinishReason::Stop};
  expect_same(decode_finished_sequence(encode(f)), f);
}

TEST(WireCodec, TextFormNamesTheSchemaFields) {
  const std::string text = to_text(full_plan());
  EXPECT_NE(text.find("stepId = 81985529216486895"), std::string::npos) << text;
  EXPECT_NE(text.find("blockSize = 32"), std::string::npos) << text;
  EXPECT_NE(text.find("seed = (value = "), std::string::npos) << text;
  EXPECT_NE(text.find("tokenIds = [140, 141"), std::string::npos) << text;
  const std::string finished =
      to_text(FinishedSequence{.id = 1, .output_token_ids = {2}, .reason = SequenceFinishReason::Abort});
  EXPECT_NE(finished.find("reason = abort"), std::string::npos) << finished;
  EXPECT_FALSE(to_text(KvPoolShape{}).empty());
  EXPECT_EQ(wire_version(), 2u);
}

// If this fails, a field was added to (or removed from) one of the structs: give it a field in
// wire/troupe.capnp (next ordinal, default = the C++ default), encode and decode it in
// wire_codec.cpp, set it in the full_* makers and compare it in expect_same above, then update
// the size here.
TEST(WireCodec, StructsHaveTheFieldsTheSchemaKnows) {
#if defined(__x86_64__) && defined(__GLIBCXX__)
  EXPECT_EQ(sizeof(SamplingParams), 120u);
  EXPECT_EQ(sizeof(GenerationRequest), 224u);
  EXPECT_EQ(sizeof(ScheduledSequence), 256u);
  EXPECT_EQ(sizeof(StepPlan), 96u);
  EXPECT_EQ(sizeof(StepResult), 80u);
  EXPECT_EQ(sizeof(KvPoolShape), 8u);
  EXPECT_EQ(sizeof(FinishedSequence), 40u);
#else
  GTEST_SKIP() << "sizes recorded for x86-64 libstdc++ only";
#endif
}


}  // namespace
}  // namespace troupe::wire
