#include "net/wire/wire_codec.h"

#include <cstring>
#include <optional>
#include <stdexcept>
#include <utility>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>
#include <kj/exception.h>

#include "net/wire/troupe.capnp.h"

namespace troupe::wire {
namespace {

namespace s = schema;

// -- encoding ------------------------------------------------------------------------------------

template <class T>
kj::ArrayPtr<const T> view(const std::vector<T>& v) {
  return kj::arrayPtr(v.data(), v.size());
}

// Empty vectors stay null pointers, which read back as empty lists.
#define TROUPE_WIRE_SET_LIST(builder, Field, vec) \
  do {                                            \
    if (!(vec).empty()) (builder).set##Field(view(vec)); \
  } while (false)

void fill(s::SamplingParams::Builder b, const SamplingParams& x) {
  b.setTemperature(x.temperature);
  b.setTopK(x.top_k);
  b.setTopP(x.top_p);
  b.setMinP(x.min_p);
  b.setRepetitionPenalty(x.repetition_penalty);
  b.setPresencePenalty(x.presence_penalty);
  b.setFrequencyPenalty(x.frequency_penalty);
  if (x.seed) {
    b.getSeed().setValue(*x.seed);
  } else {
    b.getSeed().setNone();
  }
  b.setMaxTokens(x.max_tokens);
  b.setIgnoreEos(x.ignore_eos);
  b.setLogprobs(x.logprobs);
}

void fill(s::GenerationRequest::Builder b, const GenerationRequest& x) {
  b.setId(x.id);
  TROUPE_WIRE_SET_LIST(b, PromptTokenIds, x.prompt_token_ids);
  fill(b.initSamplingParams(), x.sampling_params);
  TROUPE_WIRE_SET_LIST(b, EosTokenIds, x.eos_token_ids);
  b.setPriority(x.priority);
  if (x.arrival) {
    b.getArrival().setValue(*x.arrival);
  } else {
    b.getArrival().setNone();
  }
  TROUPE_WIRE_SET_LIST(b, OutputTokenIds, x.output_token_ids);
}

void fill(s::ScheduledSequence::Builder b, const ScheduledSequence& x) {
  b.setSeqId(x.seq_id);
  b.setIsNew(x.is_new);
  TROUPE_WIRE_SET_LIST(b, PromptTokenIds, x.prompt_token_ids);
  TROUPE_WIRE_SET_LIST(b, OutputTokenIds, x.output_token_ids);
  b.setNumComputedTokens(x.num_computed_tokens);
  TROUPE_WIRE_SET_LIST(b, TokenIds, x.token_ids);
  TROUPE_WIRE_SET_LIST(b, Positions, x.positions);
  TROUPE_WIRE_SET_LIST(b, BlockTable, x.block_table);
  TROUPE_WIRE_SET_LIST(b, SlotMapping, x.slot_mapping);
  b.setWantsLogits(x.wants_logits);
  b.setNumOutputTokens(x.num_output_tokens);
  fill(b.initSamplingParams(), x.sampling_params);
}

void fill(s::StepPlan::Builder b, const StepPlan& x) {
  b.setStepId(x.step_id);
  b.setBlockSize(x.block_size);
  if (!x.sequences.empty()) {
    auto list = b.initSequences(static_cast<unsigned>(x.sequences.size()));
    for (size_t i = 0; i < x.sequences.size(); ++i) fill(list[static_cast<unsigned>(i)], x.sequences[i]);
  }
  TROUPE_WIRE_SET_LIST(b, FinishedSeqIds, x.finished_seq_ids);
  TROUPE_WIRE_SET_LIST(b, PreemptedSeqIds, x.preempted_seq_ids);
  b.setNumBatchedTokens(x.num_batched_tokens);
  b.setNumCachedTokens(x.num_cached_tokens);
}

void fill(s::SampleLogprobs::Builder b, const SampleLogprobs& x) {
  b.setLogprob(x.logprob);
  if (x.top.empty()) return;
  auto top = b.initTop(static_cast<unsigned>(x.top.size()));
  for (size_t i = 0; i < x.top.size(); ++i) {
    top[static_cast<unsigned>(i)].setToken(x.top[i].token);
    top[static_cast<unsigned>(i)].setLogprob(x.top[i].logprob);
  }
}

void fill(s::StepResult::Builder b, const StepResult& x) {
  b.setStepId(x.step_id);
  TROUPE_WIRE_SET_LIST(b, Sampled, x.sampled);
  if (!x.logprobs.empty()) {
    auto list = b.initLogprobs(static_cast<unsigned>(x.logprobs.size()));
    for (size_t i = 0; i < x.logprobs.size(); ++i) fill(list[static_cast<unsigned>(i)], x.logprobs[i]);
  }
}

void fill(s::KvPoolShape::Builder b, const KvPoolShape& x) {
  b.setNumBlocks(x.num_blocks);
  b.setBlockSize(x.block_size);
}

s::FinishReason to_wire(SequenceFinishReason r) {
  switch (r) {
    case SequenceFinishReason::Stop: return s::FinishReason::STOP;
    case SequenceFinishReason::Length: return s::FinishReason::LENGTH;
    case SequenceFinishReason::Abort: return s::FinishReason::ABORT;
  }
  throw std::invalid_argument("unknown SequenceFinishReason " + std::to_string(static_cast<int>(r)));
}

void fill(s::FinishedSequence::Builder b, const FinishedSequence& x) {
  b.setId(x.id);
  TROUPE_WIRE_SET_LIST(b, OutputTokenIds, x.output_token_ids);
  b.setReason(to_wire(x.reason));
}

void fill(s::PoolJournal::Builder b, const PoolJournal& x) {
  b.setNumber(x.number);
  b.setStepId(x.step_id);
  if (x.fresh_pool) {
    auto start = b.getFreshPool().initStart();
    start.setNumBlocks(x.fresh_pool->num_blocks);
    start.setBlockSize(x.fresh_pool->block_size);
    start.setEnablePrefixCaching(x.fresh_pool->enable_prefix_caching);
  } else {
    b.getFreshPool().setNone();
  }
  if (!x.ops.empty()) {
    auto ops = b.initOps(static_cast<unsigned>(x.ops.size()));
    for (size_t i = 0; i < x.ops.size(); ++i) {
      const PoolOp& op = x.ops[i];
      auto o = ops[static_cast<unsigned>(i)];
      // PoolOpKind's enumerants are declared in the same order as troupe::PoolOpKind.
      o.setKind(static_cast<s::PoolOpKind>(op.kind));
      o.setBlock(op.block);
      o.setSeqId(op.seq);
      o.setKey(op.key);
      o.setParentKey(op.parent_key);
      o.setNumQueryTokens(op.num_query_tokens);
    }
  }
  TROUPE_WIRE_SET_LIST(b, CachedTokens, x.cached_tokens);
}

#undef TROUPE_WIRE_SET_LIST

// Builds the message for x (schema struct S) and hands its builder to `out`.
template <class S, class T, class Out>
auto build(const T& x, const char* type, Out&& out) {
  try {
    capnp::MallocMessageBuilder message;
    fill(message.initRoot<S>(), x);
    return out(message);
  } catch (const kj::Exception& e) {
    // Only a vector of 2^29 or more elements gets here (Cap'n Proto's list limit).
    throw std::invalid_argument(std::string("troupe::wire: cannot encode ") + type + ": " +
                                e.getDescription().cStr());
  }
}

template <class S, class T>
std::vector<uint8_t> encode_as(const T& x, const char* type) {
  return build<S>(x, type, [](capnp::MallocMessageBuilder& message) {
    const kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
    const kj::ArrayPtr<const kj::byte> bytes = words.asBytes();
    return std::vector<uint8_t>(bytes.begin(), bytes.end());
  });
}

template <class S, class T>
std::string text_as(const T& x, const char* type) {
  return build<S>(x, type, [](capnp::MallocMessageBuilder& message) {
    const kj::String text = message.getRoot<S>().asReader().toString().flatten();
    return std::string(text.cStr(), text.size());
  });
}

// -- decoding ------------------------------------------------------------------------------------

// Every decoded field is read exactly once, so a well-formed message traverses each of its words
// at most once; twice that (plus slack) bounds the amplification a hostile message can get from
// pointers that alias each other or from lists of zero-sized elements.
constexpr uint64_t kTraversalFactor = 2;
constexpr uint64_t kTraversalSlackWords = 64;
// Our deepest path is StepPlan -> sequences -> ScheduledSequence -> samplingParams.
constexpr int kNestingLimit = 16;

template <class T>
std::vector<T> get(typename capnp::List<T>::Reader list) {
  std::vector<T> out;
  out.reserve(list.size());
  for (auto v : list) out.push_back(v);
  return out;
}

SamplingParams get(s::SamplingParams::Reader r) {
  SamplingParams x;
  x.temperature = r.getTemperature();
  x.top_k = r.getTopK();
  x.top_p = r.getTopP();
  x.min_p = r.getMinP();
  x.repetition_penalty = r.getRepetitionPenalty();
  x.presence_penalty = r.getPresencePenalty();
  x.frequency_penalty = r.getFrequencyPenalty();
  const auto seed = r.getSeed();
  switch (seed.which()) {
    case s::SamplingParams::Seed::NONE: x.seed = std::nullopt; break;
    case s::SamplingParams::Seed::VALUE: x.seed = seed.getValue(); break;
    default:
      throw std::invalid_argument("samplingParams.seed: unknown union member " +
                                  std::to_string(static_cast<unsigned>(seed.which())));
  }
  x.max_tokens = r.getMaxTokens();
  x.ignore_eos = r.getIgnoreEos();
  x.logprobs = r.getLogprobs();
  return x;
}

GenerationRequest get(s::GenerationRequest::Reader r) {
  GenerationRequest x;
  x.id = r.getId();
  x.prompt_token_ids = get<int32_t>(r.getPromptTokenIds());
  x.sampling_params = get(r.getSamplingParams());
  x.eos_token_ids = get<int32_t>(r.getEosTokenIds());
  x.priority = r.getPriority();
  const auto arrival = r.getArrival();
  switch (arrival.which()) {
    case s::GenerationRequest::Arrival::NONE: x.arrival = std::nullopt; break;
    case s::GenerationRequest::Arrival::VALUE: x.arrival = arrival.getValue(); break;
    default:
      throw std::invalid_argument("arrival: unknown union member " +
                                  std::to_string(static_cast<unsigned>(arrival.which())));
  }
  x.output_token_ids = get<int32_t>(r.getOutputTokenIds());
  return x;
}

ScheduledSequence get(s::ScheduledSequence::Reader r) {
  ScheduledSequence x;
  x.seq_id = r.getSeqId();
  x.is_new = r.getIsNew();
  x.prompt_token_ids = get<int32_t>(r.getPromptTokenIds());
  x.output_token_ids = get<int32_t>(r.getOutputTokenIds());
  x.num_computed_tokens = r.getNumComputedTokens();
  x.token_ids = get<int32_t>(r.getTokenIds());
  x.positions = get<int32_t>(r.getPositions());
  x.block_table = get<int32_t>(r.getBlockTable());
  x.slot_mapping = get<int32_t>(r.getSlotMapping());
  x.wants_logits = r.getWantsLogits();
  x.num_output_tokens = r.getNumOutputTokens();
  x.sampling_params = get(r.getSamplingParams());
  return x;
}

StepPlan get(s::StepPlan::Reader r) {
  StepPlan x;
  x.step_id = r.getStepId();
  x.block_size = r.getBlockSize();
  const auto sequences = r.getSequences();
  x.sequences.reserve(sequences.size());
  for (auto seq : sequences) x.sequences.push_back(get(seq));
  x.finished_seq_ids = get<uint64_t>(r.getFinishedSeqIds());
  x.preempted_seq_ids = get<uint64_t>(r.getPreemptedSeqIds());
  x.num_batched_tokens = r.getNumBatchedTokens();
  x.num_cached_tokens = r.getNumCachedTokens();
  return x;
}

SampleLogprobs get(s::SampleLogprobs::Reader r) {
  SampleLogprobs x;
  x.logprob = r.getLogprob();
  const auto top = r.getTop();
  x.top.reserve(top.size());
  for (auto t : top) x.top.push_back({t.getToken(), t.getLogprob()});
  return x;
}

StepResult get(s::StepResult::Reader r) {
  StepResult x;
  x.step_id = r.getStepId();
  x.sampled = get<int32_t>(r.getSampled());
  const auto logprobs = r.getLogprobs();
  x.logprobs.reserve(logprobs.size());
  for (auto l : logprobs) x.logprobs.push_back(get(l));
  return x;
}

KvPoolShape get(s::KvPoolShape::Reader r) {
  KvPoolShape x;
  x.num_blocks = r.getNumBlocks();
  x.block_size = r.getBlockSize();
  return x;
}

FinishedSequence get(s::FinishedSequence::Reader r) {
  FinishedSequence x;
  x.id = r.getId();
  x.output_token_ids = get<int32_t>(r.getOutputTokenIds());
  switch (r.getReason()) {
    case s::FinishReason::STOP: x.reason = SequenceFinishReason::Stop; break;
    case s::FinishReason::LENGTH: x.reason = SequenceFinishReason::Length; break;
    case s::FinishReason::ABORT: x.reason = SequenceFinishReason::Abort; break;
    default:
      throw std::invalid_argument("reason: unknown FinishReason enumerant " +
                                  std::to_string(static_cast<unsigned>(r.getReason())));
  }
  return x;
}

PoolJournal get(s::PoolJournal::Reader r) {
  PoolJournal x;
  x.number = r.getNumber();
  x.step_id = r.getStepId();
  const auto fresh = r.getFreshPool();
  switch (fresh.which()) {
    case s::PoolJournal::FreshPool::NONE: break;
    case s::PoolJournal::FreshPool::START: {
      const auto start = fresh.getStart();
      x.fresh_pool = PoolStart{start.getNumBlocks(), start.getBlockSize(), start.getEnablePrefixCaching()};
      break;
    }
    default:
      throw std::invalid_argument("freshPool: unknown union member " +
                                  std::to_string(static_cast<unsigned>(fresh.which())));
  }
  const auto ops = r.getOps();
  x.ops.reserve(ops.size());
  for (auto o : ops) {
    const auto kind = static_cast<uint16_t>(o.getKind());
    if (kind > static_cast<uint16_t>(PoolOpKind::ClearCache))
      throw std::invalid_argument("ops: unknown PoolOpKind enumerant " + std::to_string(kind));
    x.ops.push_back({static_cast<PoolOpKind>(kind), o.getBlock(), o.getSeqId(), o.getKey(), o.getParentKey(),
                     o.getNumQueryTokens()});
  }
  x.cached_tokens = get<int32_t>(r.getCachedTokens());
  return x;
}

[[noreturn]] void reject(const char* type, const std::string& why) {
  throw std::invalid_argument(std::string("troupe::wire: cannot decode ") + type + ": " + why);
}

template <class S>
auto decode_as(std::span<const uint8_t> bytes, const char* type) {
  constexpr size_t kWord = sizeof(capnp::word);
  if (bytes.empty()) reject(type, "empty input");
  if (bytes.size() % kWord != 0)
    reject(type, std::to_string(bytes.size()) + " bytes is not a whole number of 8-byte words");
  if (bytes.size() > kMaxMessageBytes)
    reject(type, std::to_string(bytes.size()) + " bytes is over the " + std::to_string(kMaxMessageBytes) +
                     "-byte limit");
  const size_t num_words = bytes.size() / kWord;

  // Cap'n Proto reads words in place; bytes at an address that is not 8-byte aligned are copied.
  kj::Array<capnp::word> aligned;
  kj::ArrayPtr<const capnp::word> words;
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(capnp::word) == 0) {
    words = kj::arrayPtr(reinterpret_cast<const capnp::word*>(bytes.data()), num_words);
  } else {
    aligned = kj::heapArray<capnp::word>(num_words);
    std::memcpy(aligned.begin(), bytes.data(), bytes.size());
    words = kj::ArrayPtr<const capnp::word>(aligned.begin(), aligned.size());
  }

  capnp::ReaderOptions options;
  options.traversalLimitInWords = kTraversalFactor * num_words + kTraversalSlackWords;
  options.nestingLimit = kNestingLimit;
  ptrdiff_t trailing_words = 0;
  try {
    capnp::FlatArrayMessageReader reader(words, options);
    trailing_words = words.end() - reader.getEnd();
    if (trailing_words == 0) return get(reader.getRoot<S>());
  } catch (const kj::Exception& e) {
    reject(type, e.getDescription().cStr());
  } catch (const std::invalid_argument& e) {  // from get(): a value this build cannot represent
    reject(type, e.what());
  }
  reject(type, std::to_string(trailing_words * static_cast<ptrdiff_t>(kWord)) + " trailing bytes after the message");
}

}  // namespace

uint32_t wire_version() { return s::WIRE_VERSION; }

std::vector<uint8_t> encode(const SamplingParams& x) { return encode_as<s::SamplingParams>(x, "SamplingParams"); }
std::vector<uint8_t> encode(const GenerationRequest& x) { return encode_as<s::GenerationRequest>(x, "GenerationRequest"); }
std::vector<uint8_t> encode(const ScheduledSequence& x) { return encode_as<s::ScheduledSequence>(x, "ScheduledSequence"); }
std::vector<uint8_t> encode(const StepPlan& x) { return encode_as<s::StepPlan>(x, "StepPlan"); }
std::vector<uint8_t> encode(const StepResult& x) { return encode_as<s::StepResult>(x, "StepResult"); }
std::vector<uint8_t> encode(const KvPoolShape& x) { return encode_as<s::KvPoolShape>(x, "KvPoolShape"); }
std::vector<uint8_t> encode(const FinishedSequence& x) { return encode_as<s::FinishedSequence>(x, "FinishedSequence"); }
std::vector<uint8_t> encode(const PoolJournal& x) { return encode_as<s::PoolJournal>(x, "PoolJournal"); }

template <> SamplingParams decode<SamplingParams>(std::span<const uint8_t> b) { return decode_as<s::SamplingParams>(b, "SamplingParams"); }
template <> GenerationRequest decode<GenerationRequest>(std::span<const uint8_t> b) { return decode_as<s::GenerationRequest>(b, "GenerationRequest"); }
template <> ScheduledSequence decode<ScheduledSequence>(std::span<const uint8_t> b) { return decode_as<s::ScheduledSequence>(b, "ScheduledSequence"); }
template <> StepPlan decode<StepPlan>(std::span<const uint8_t> b) { return decode_as<s::StepPlan>(b, "StepPlan"); }
template <> StepResult decode<StepResult>(std::span<const uint8_t> b) { return decode_as<s::StepResult>(b, "StepResult"); }
template <> KvPoolShape decode<KvPoolShape>(std::span<const uint8_t> b) { return decode_as<s::KvPoolShape>(b, "KvPoolShape"); }
template <> FinishedSequence decode<FinishedSequence>(std::span<const uint8_t> b) { return decode_as<s::FinishedSequence>(b, "FinishedSequence"); }
template <> PoolJournal decode<PoolJournal>(std::span<const uint8_t> b) { return decode_as<s::PoolJournal>(b, "PoolJournal"); }

std::string to_text(const SamplingParams& x) { return text_as<s::SamplingParams>(x, "SamplingParams"); }
std::string to_text(const GenerationRequest& x) { return text_as<s::GenerationRequest>(x, "GenerationRequest"); }
std::string to_text(const ScheduledSequence& x) { return text_as<s::ScheduledSequence>(x, "ScheduledSequence"); }
std::string to_text(const StepPlan& x) { return text_as<s::StepPlan>(x, "StepPlan"); }
std::string to_text(const StepResult& x) { return text_as<s::StepResult>(x, "StepResult"); }
std::string to_text(const KvPoolShape& x) { return text_as<s::KvPoolShape>(x, "KvPoolShape"); }
std::string to_text(const FinishedSequence& x) { return text_as<s::FinishedSequence>(x, "FinishedSequence"); }
std::string to_text(const PoolJournal& x) { return text_as<s::PoolJournal>(x, "PoolJournal"); }

}  // namespace troupe::wire
