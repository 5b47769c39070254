// troupe::wire: every cluster value survives encode -> decode with every field set; schema
// defaults equal the C++ defaults (what a peer that lacks a field means); a peer built from a
// later schema and this one understand each other; and hostile bytes (garbage, truncations,
// bit flips, pointer tricks) give std::invalid_argument, never a crash or a huge allocation.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include "net/wire/troupe.capnp.h"
#include "net/wire/wire_codec.h"
#include "tests/net/wire/wire_future.capnp.h"

namespace troupe::wire {
namespace {

// -- comparison ------------------------------------------------------------------------------------

// Floats compare by bit pattern so that -0.0, infinities and NaN payloads must survive too.
#define EXPECT_SAME_FLOAT(a, b) EXPECT_EQ(std::bit_cast<uint32_t>(a), std::bit_cast<uint32_t>(b)) << #a

void expect_same(const SamplingParams& a, const SamplingParams& b) {
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
}

void expect_same(const GenerationRequest& a, const GenerationRequest& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.prompt_token_ids, b.prompt_token_ids);
  expect_same(a.sampling_params, b.sampling_params);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.arrival, b.arrival);
  EXPECT_EQ(a.output_token_ids, b.output_token_ids);
}

void expect_same(const ScheduledSequence& a, const ScheduledSequence& b) {
  EXPECT_EQ(a.seq_id, b.seq_id);
  EXPECT_EQ(a.is_new, b.is_new);
  EXPECT_EQ(a.prompt_token_ids, b.prompt_token_ids);
  EXPECT_EQ(a.output_token_ids, b.output_token_ids);
  EXPECT_EQ(a.num_computed_tokens, b.num_computed_tokens);
  EXPECT_EQ(a.token_ids, b.token_ids);
  EXPECT_EQ(a.positions, b.positions);
  EXPECT_EQ(a.block_table, b.block_table);
  EXPECT_EQ(a.slot_mapping, b.slot_mapping);
  EXPECT_EQ(a.wants_logits, b.wants_logits);
  EXPECT_EQ(a.num_output_tokens, b.num_output_tokens);
  expect_same(a.sampling_params, b.sampling_params);
}

void expect_same(const StepPlan& a, const StepPlan& b) {
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

void expect_same(const StepResult& a, const StepResult& b) {
  EXPECT_EQ(a.step_id, b.step_id);
  EXPECT_EQ(a.sampled, b.sampled);
  EXPECT_EQ(a.logprobs.size(), b.logprobs.size());  // their contents: wire_logprobs_test.cpp
}

void expect_same(const KvPoolShape& a, const KvPoolShape& b) {
  EXPECT_EQ(a.num_blocks, b.num_blocks);
  EXPECT_EQ(a.block_size, b.block_size);
}

void expect_same(const FinishedSequence& a, const FinishedSequence& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.output_token_ids, b.output_token_ids);
  EXPECT_EQ(a.reason, b.reason);
}

template <class T>
T round_trip(const T& x) {
  const std::vector<uint8_t> bytes = encode(x);
  EXPECT_EQ(bytes.size() % 8, 0u);
  return decode<T>(bytes);
}

template <class T>
void expect_round_trip(const T& x) {
  expect_same(round_trip(x), x);
}

// -- values with every field away from its default ------------------------------------------------

std::vector<int32_t> ramp(size_t n, int32_t start, int32_t step = 1) {
  std::vector<int32_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + static_cast<int32_t>(i) * step;
  return v;
}

SamplingParams full_params(uint64_t salt) {
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
  return p;
}

ScheduledSequence full_sequence(uint64_t id) {
  ScheduledSequence s;
  s.seq_id = (uint64_t{1} << 40) + id;
  s.is_new = true;
  s.prompt_token_ids = ramp(37, 100);
  s.output_token_ids = {7, 8, 9};
  s.num_computed_tokens = 32;
  s.token_ids = {140, 141, 142, 143, 144, 145, 146, 147};
  s.positions = ramp(8, 32);
  s.block_table = {9, 4, 11};
  s.slot_mapping = ramp(8, 4 * 16);
  s.wants_logits = true;
  s.num_output_tokens = 3;
  s.sampling_params = full_params(id);
  return s;
}

StepPlan full_plan() {
  StepPlan p;
  p.step_id = 0x0123456789ABCDEFull;
  p.block_size = 32;
  for (uint64_t i = 0; i < 3; ++i) p.sequences.push_back(full_sequence(i));
  p.sequences[1].is_new = false;  // a decode entry: no prompt, no output history
  p.sequences[1].prompt_token_ids.clear();
  p.sequences[1].output_token_ids.clear();
  p.sequences[1].sampling_params.seed.reset();
  p.finished_seq_ids = {5, std::numeric_limits<uint64_t>::max()};
  p.preempted_seq_ids = {6};
  p.num_batched_tokens = 24;
  p.num_cached_tokens = 16;
  return p;
}

GenerationRequest full_request() {
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
  s.positions = {40};
  s.slot_mapping = {11 * 16 + 8};
  expect_round_trip(plan);
  EXPECT_EQ(decode_step_plan(encode(plan)).sequences.at(0).token_ids, std::vector<int32_t>{-1});
}

TEST(WireCodec, StepResultKvPoolShapeAndFinishedSequenceRoundTrip) {
  expect_round_trip(StepResult{.step_id = 77, .sampled = {3, -1, std::numeric_limits<int32_t>::max()}, .logprobs = {}});
  expect_round_trip(KvPoolShape{.num_blocks = 123456, .block_size = 64});
  for (auto reason : {SequenceFinishReason::Stop, SequenceFinishReason::Length, SequenceFinishReason::Abort}) {
    FinishedSequence f{.id = 99, .output_token_ids = {5, 6, 151643}, .reason = reason};
    expect_round_trip(f);
  }
}

TEST(WireCodec, EmptyVectorsStayEmpty) {
  StepPlan p;
  p.step_id = 1;
  p.sequences.push_back(ScheduledSequence{});  // every list empty
  expect_round_trip(p);
  expect_round_trip(StepResult{.step_id = 2, .sampled = {}, .logprobs = {}});
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
    s.block_table = ramp(260, 0, 3);
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
  expect_round_trip(StepResult{.step_id = 6, .sampled = ramp(100000, 1), .logprobs = {}});
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
  expect_same(decode_step_result(encode(StepResult{.step_id = 1, .sampled = {2}, .logprobs = {}})), StepResult{.step_id = 1, .sampled = {2}, .logprobs = {}});
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
  EXPECT_EQ(wire_version(), 1u);
}

// If this fails, a field was added to (or removed from) one of the structs: give it a field in
// net/wire/troupe.capnp (next ordinal, default = the C++ default), encode and decode it in
// wire_codec.cpp, set it in the full_* makers and compare it in expect_same above, then update
// the size here.
TEST(WireCodec, StructsHaveTheFieldsTheSchemaKnows) {
#if defined(__x86_64__) && defined(__GLIBCXX__)
  EXPECT_EQ(sizeof(SamplingParams), 64u);
  EXPECT_EQ(sizeof(GenerationRequest), 168u);
  EXPECT_EQ(sizeof(ScheduledSequence), 240u);
  EXPECT_EQ(sizeof(StepPlan), 96u);
  EXPECT_EQ(sizeof(StepResult), 56u);
  EXPECT_EQ(sizeof(KvPoolShape), 8u);
  EXPECT_EQ(sizeof(FinishedSequence), 40u);
#else
  GTEST_SKIP() << "sizes recorded for x86-64 libstdc++ only";
#endif
}

// -- schema defaults are the C++ defaults ----------------------------------------------------------

// A message whose root struct has no data and no pointers: what a peer that knows none of the
// fields sends. Every field must then decode to the C++ default, which is what the evolution rule
// "a new field's default is the C++ default" relies on.
std::vector<uint8_t> empty_struct_message() {
  std::vector<uint8_t> bytes(16, 0);
  bytes[4] = 1;  // one segment of one word
  const uint32_t zero_sized_struct_pointer = 0xFFFFFFFCu;  // offset -1, 0 data words, 0 pointers
  std::memcpy(bytes.data() + 8, &zero_sized_struct_pointer, 4);
  return bytes;
}

std::vector<uint8_t> null_root_message() {
  std::vector<uint8_t> bytes(16, 0);
  bytes[4] = 1;
  return bytes;
}

TEST(WireCodec, MissingFieldsDecodeToTheCppDefaults) {
  for (const auto& bytes : {empty_struct_message(), null_root_message()}) {
    expect_same(decode<SamplingParams>(bytes), SamplingParams{});
    expect_same(decode<GenerationRequest>(bytes), GenerationRequest{});
    expect_same(decode<ScheduledSequence>(bytes), ScheduledSequence{});
    expect_same(decode<StepPlan>(bytes), StepPlan{});
    expect_same(decode<StepResult>(bytes), StepResult{});
    expect_same(decode<KvPoolShape>(bytes), KvPoolShape{});
    expect_same(decode<FinishedSequence>(bytes), FinishedSequence{});
  }
}

TEST(WireCodec, AnOlderPeerThatKnowsOnlyStepIdGetsDefaultsForTheRest) {
  // Root StepPlan with one data word (stepId = 7) and no pointers.
  const uint64_t words[] = {
      uint64_t{2} << 32,        // segment table: 1 segment, 2 words
      uint64_t{1} << 32,        // struct pointer: offset 0, 1 data word, 0 pointers
      7,                        // stepId
  };
  const auto bytes = std::as_bytes(std::span(words));
  const StepPlan p = decode<StepPlan>({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  EXPECT_EQ(p.step_id, 7u);
  EXPECT_EQ(p.block_size, 16);  // the schema default, not zero
  EXPECT_TRUE(p.sequences.empty());
}

// -- a later schema ----------------------------------------------------------------------------------

std::vector<uint8_t> flat(capnp::MallocMessageBuilder& message) {
  const auto words = capnp::messageToFlatArray(message);
  const auto bytes = words.asBytes();
  return {bytes.begin(), bytes.end()};
}

TEST(WireCodec, ANewerPeersAddedFieldsAreIgnored) {
  capnp::MallocMessageBuilder message;
  auto plan = message.initRoot<future::StepPlan>();
  plan.setStepId(11);
  plan.setBlockSize(8);
  plan.setDeadlineMicros(999);
  plan.setTraceId("abc");
  auto seqs = plan.initSequences(2);
  for (unsigned i = 0; i < 2; ++i) {
    seqs[i].setSeqId(100 + i);
    seqs[i].setTokenIds({1, 2, 3});
    seqs[i].setLoraId(5);
    seqs[i].setMropePositions({9, 9, 9});
    auto sp = seqs[i].initSamplingParams();
    sp.getSeed().setValue(31 + i);
    sp.setLogprobs(5);
    sp.setBeamWidth(4);
    sp.setTopK(3);
  }
  plan.setFinishedSeqIds({4});
  const StepPlan p = decode<StepPlan>(flat(message));
  EXPECT_EQ(p.step_id, 11u);
  EXPECT_EQ(p.block_size, 8);
  ASSERT_EQ(p.sequences.size(), 2u);
  EXPECT_EQ(p.sequences[1].seq_id, 101u);
  EXPECT_EQ(p.sequences[1].token_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(p.sequences[1].sampling_params.seed, std::optional<uint64_t>(32));
  EXPECT_EQ(p.sequences[1].sampling_params.top_k, 3);
  EXPECT_EQ(p.sequences[1].sampling_params.logprobs, 5);  // a field today's schema has too
  EXPECT_EQ(p.finished_seq_ids, (std::vector<uint64_t>{4}));
}

TEST(WireCodec, ANewerPeerReadsTodaysMessagesWithItsDefaultsForNewFields) {
  const std::vector<uint8_t> bytes = encode(full_plan());
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(bytes.size() / 8);
  std::memcpy(words.begin(), bytes.data(), bytes.size());
  capnp::FlatArrayMessageReader reader(words);
  auto plan = reader.getRoot<future::StepPlan>();
  EXPECT_EQ(plan.getStepId(), full_plan().step_id);
  EXPECT_EQ(plan.getDeadlineMicros(), 0u);
  EXPECT_FALSE(plan.hasTraceId());
  ASSERT_EQ(plan.getSequences().size(), 3u);
  auto s0 = plan.getSequences()[0];
  EXPECT_EQ(s0.getSeqId(), full_plan().sequences[0].seq_id);
  EXPECT_EQ(s0.getPromptTokenIds().size(), 37u);
  EXPECT_EQ(s0.getLoraId(), 7u);  // the newer schema's default
  EXPECT_TRUE(s0.getSamplingParams().getSeed().isValue());
  EXPECT_EQ(s0.getSamplingParams().getLogprobs(), full_plan().sequences[0].sampling_params.logprobs);
  EXPECT_EQ(s0.getSamplingParams().getBeamWidth(), 1);  // the newer schema's default
  EXPECT_TRUE(plan.getSequences()[1].getSamplingParams().getSeed().isNone());
}

TEST(WireCodec, AnUnknownUnionMemberOrEnumerantIsRejected) {
  {
    capnp::MallocMessageBuilder message;
    message.initRoot<future::SamplingParams>().getSeed().setFromRequestId();
    try {
      decode<SamplingParams>(flat(message));
      FAIL() << "decoded an unknown seed variant";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("seed"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("SamplingParams"), std::string::npos) << e.what();
    }
  }
  {
    capnp::MallocMessageBuilder message;
    message.initRoot<future::FinishedSequence>().setReason(future::FinishReason::STOP_STRING);
    try {
      decode<FinishedSequence>(flat(message));
      FAIL() << "decoded an unknown finish reason";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("reason"), std::string::npos) << e.what();
    }
  }
}

// -- hostile input ---------------------------------------------------------------------------------

// Decoding must either succeed or throw std::invalid_argument; anything else fails the test (and a
// crash fails the run).
template <class T>
bool decodes(std::span<const uint8_t> bytes) {
  try {
    (void)decode<T>(bytes);
    return true;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

template <class T>
void expect_rejected(std::span<const uint8_t> bytes, const std::string& expected_fragment = "") {
  try {
    (void)decode<T>(bytes);
    ADD_FAILURE() << "decoded " << bytes.size() << " hostile bytes";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).rfind("troupe::wire: cannot decode ", 0), 0u) << e.what();
    if (!expected_fragment.empty()) {
      EXPECT_NE(std::string(e.what()).find(expected_fragment), std::string::npos) << e.what();
    }
  }
}

TEST(WireCodecHostile, EmptyShortAndRaggedInputIsRejected) {
  expect_rejected<StepPlan>({}, "empty input");
  const std::vector<uint8_t> bytes = encode(full_plan());
  for (size_t n = 1; n < 8; ++n) expect_rejected<StepPlan>(std::span(bytes).first(n));
  expect_rejected<StepPlan>(std::span(bytes).first(bytes.size() - 3), "whole number of 8-byte words");
}

TEST(WireCodecHostile, EveryTruncationIsRejected) {
  const std::vector<uint8_t> plan = encode(full_plan());
  for (size_t n = 0; n < plan.size(); ++n) expect_rejected<StepPlan>(std::span(plan).first(n));
  const std::vector<uint8_t> request = encode(full_request());
  for (size_t n = 0; n < request.size(); n += 8) expect_rejected<GenerationRequest>(std::span(request).first(n));
}

TEST(WireCodecHostile, TrailingBytesAreRejected) {
  std::vector<uint8_t> bytes = encode(full_plan());
  bytes.resize(bytes.size() + 8, 0);
  expect_rejected<StepPlan>(bytes, "8 trailing bytes");
}

TEST(WireCodecHostile, RandomBytesNeverCrash) {
  std::mt19937_64 rng(1234);
  int decoded = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    const size_t words = 1 + rng() % 64;
    std::vector<uint8_t> bytes(words * 8);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    if (iter % 2 == 0) {  // a plausible segment table makes the reader look further
      const uint32_t table[2] = {0, static_cast<uint32_t>(words - 1)};
      std::memcpy(bytes.data(), table, 8);
    }
    decoded += decodes<StepPlan>(bytes);
    decoded += decodes<GenerationRequest>(bytes);
    decoded += decodes<FinishedSequence>(bytes);
    decoded += decodes<SamplingParams>(bytes);
  }
  RecordProperty("decoded", decoded);
}

TEST(WireCodecHostile, MutatedMessagesNeverCrash) {
  const std::vector<uint8_t> plan = encode(full_plan());
  const std::vector<uint8_t> request = encode(full_request());
  std::mt19937_64 rng(99);
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<uint8_t> a = plan;
    std::vector<uint8_t> b = request;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      a[rng() % a.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
      b[rng() % b.size()] = static_cast<uint8_t>(rng());
    }
    (void)decodes<StepPlan>(a);
    (void)decodes<GenerationRequest>(b);
    (void)decodes<StepResult>(a);
  }
  // Every byte of the plan, in turn, set to every value that differs in the top bit or is 0xFF.
  for (size_t i = 0; i < plan.size(); ++i) {
    for (uint8_t v : {uint8_t{0x00}, uint8_t{0xFF}, static_cast<uint8_t>(plan[i] ^ 0x80)}) {
      std::vector<uint8_t> a = plan;
      a[i] = v;
      (void)decodes<StepPlan>(a);
    }
  }
}

uint64_t list_pointer(int32_t offset_words, uint32_t element_size_code, uint32_t count) {
  return (uint64_t{(count << 3) | element_size_code} << 32) |
         (static_cast<uint32_t>(offset_words) << 2) | 1u;
}

// StepPlan whose sequences pointer (its pointer 0) is replaced by `pointer`.
std::vector<uint8_t> plan_with_sequences_pointer(uint64_t pointer, uint64_t step_id) {
  StepPlan p;
  p.step_id = step_id;
  p.num_cached_tokens = 1;
  std::vector<uint8_t> bytes = encode(p);
  // Flat message: segment table word, root pointer, data section, pointer section.
  const size_t data_words = schema::StepPlan::_capnpPrivate::dataWordSize;
  const size_t pointer_word = 1 + 1 + data_words;
  EXPECT_GE(bytes.size(), (pointer_word + 1) * 8);
  std::memcpy(bytes.data() + pointer_word * 8, &pointer, 8);
  return bytes;
}

TEST(WireCodecHostile, ListOfHalfABillionEmptyStructsIsRejectedNotAllocated) {
  // A List(Void) of 2^29 - 1 elements costs no bytes; read as List(ScheduledSequence) it would ask
  // for 2^29 default sequences (~100 GiB). The traversal limit (proportional to the input) stops it.
  const uint32_t huge = (1u << 29) - 1;
  expect_rejected<StepPlan>(plan_with_sequences_pointer(list_pointer(0, /*void*/ 0, huge), 1), "traversal limit");

  // The same as an inline-composite list of zero-sized structs: the pointer's target is a tag
  // word, here the plan's own stepId, crafted to read as "2^29 - 1 elements of 0 + 0 words".
  const int32_t back_to_step_id = -static_cast<int32_t>(schema::StepPlan::_capnpPrivate::dataWordSize) - 1;
  const uint64_t tag = uint64_t{huge} << 2;
  expect_rejected<StepPlan>(plan_with_sequences_pointer(list_pointer(back_to_step_id, /*composite*/ 7, 0), tag),
                            "traversal limit");
  // Control: with a handful of elements the same crafted pointer decodes (so the test above
  // exercises the limit, not a malformed pointer).
  const StepPlan few = decode<StepPlan>(plan_with_sequences_pointer(list_pointer(back_to_step_id, 7, 0), 3u << 2));
  EXPECT_EQ(few.sequences.size(), 3u);
}

// GenerationRequest whose eosTokenIds and outputTokenIds point at the promptTokenIds list.
std::vector<uint8_t> request_with_aliased_lists(size_t prompt_len) {
  GenerationRequest r;
  r.prompt_token_ids = ramp(prompt_len, 1);
  std::vector<uint8_t> bytes = encode(r);
  EXPECT_EQ(bytes[0], 0) << "expected a one-segment message";
  const size_t data_words = schema::GenerationRequest::_capnpPrivate::dataWordSize;
  const size_t pointers_at = 1 + 1 + data_words;               // flat-array word index
  const size_t prompt_at = pointers_at + schema::GenerationRequest::_capnpPrivate::pointerCount;
  // Pointer indices by ordinal: promptTokenIds 0, samplingParams 1, eosTokenIds 2, outputTokenIds 3.
  for (size_t ptr : {size_t{2}, size_t{3}}) {
    const size_t at = pointers_at + ptr;
    const uint64_t alias = list_pointer(static_cast<int32_t>(prompt_at) - static_cast<int32_t>(at + 1),
                                        /*4 bytes*/ 4, static_cast<uint32_t>(prompt_len));
    std::memcpy(bytes.data() + at * 8, &alias, 8);
  }
  return bytes;
}

TEST(WireCodecHostile, AliasedListsCannotAmplifyTheInput) {
  // Control: a short aliased list fits the slack, and reads back as the prompt three times.
  const GenerationRequest small = decode<GenerationRequest>(request_with_aliased_lists(8));
  EXPECT_EQ(small.eos_token_ids, ramp(8, 1));
  EXPECT_EQ(small.output_token_ids, ramp(8, 1));
  // A longer one (still inside the builder's first segment, which the offsets above assume)
  // would make us read 3x the message: rejected.
  expect_rejected<GenerationRequest>(request_with_aliased_lists(1500), "traversal limit");
}

TEST(WireCodecHostile, AbsurdSegmentTablesAreRejected) {
  std::vector<uint8_t> bytes = encode(full_plan());
  const uint32_t many_segments = 0xFFFFFFFEu;
  std::vector<uint8_t> a = bytes;
  std::memcpy(a.data(), &many_segments, 4);
  expect_rejected<StepPlan>(a);
  std::vector<uint8_t> b = bytes;
  const uint32_t huge_segment = 0x7FFFFFFFu;
  std::memcpy(b.data() + 4, &huge_segment, 4);
  expect_rejected<StepPlan>(b);
}

TEST(WireCodecHostile, ErrorsNameTheTypeAndTheProblem) {
  try {
    (void)decode<StepResult>(std::vector<uint8_t>(16, 0xAB));
    FAIL();
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("troupe::wire: cannot decode StepResult: ", 0), 0u) << what;
    EXPECT_GT(what.size(), std::string("troupe::wire: cannot decode StepResult: ").size()) << what;
  }
}

}  // namespace
}  // namespace troupe::wire
