// troupe::wire against hostile bytes (garbage, truncations, bit flips, pointer tricks):
// std::invalid_argument, never a crash or a huge allocation.
#include <gtest/gtest.h>

#include "tests/wire/wire_test_values.h"

namespace troupe::wire {
namespace {

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
