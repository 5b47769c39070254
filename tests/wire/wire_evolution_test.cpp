// troupe::wire across versions: schema defaults equal the C++ defaults (what a peer that lacks a
// field means), and a peer built from a later schema and this one understand each other.
#include <gtest/gtest.h>

#include "tests/wire/wire_test_values.h"

namespace troupe::wire {
namespace {

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
    EXPECT_EQ(decode<BackendCapabilities>(bytes), BackendCapabilities{});  // "does not", as an older peer means
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
    seqs[i].setNewBlockIds({static_cast<int32_t>(40 + i)});
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
  EXPECT_EQ(p.sequences[1].new_block_ids, (std::vector<int32_t>{41}));  // a field today's schema has too
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
  EXPECT_EQ(s0.getNewBlockIds().size(), full_plan().sequences[0].new_block_ids.size());
  EXPECT_FALSE(s0.hasObsoleteBlockTable());  // version 2 sends the diff only
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


}  // namespace
}  // namespace troupe::wire
