#include "wire/wire_codec.h"

#include <optional>
#include <stdexcept>
#include <utility>

#include "wire/troupe.capnp.h"
#include "wire/wire_framing.h"

namespace troupe::wire {
namespace {

namespace s = schema;
using framing::list_of;

// -- encoding ------------------------------------------------------------------------------------

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
  b.setMinTokens(x.min_tokens);
  TROUPE_WIRE_SET_LIST(b, StopTokenIds, x.stop_token_ids);
  auto bias = b.initLogitBias(static_cast<unsigned>(x.logit_bias.size()));
  for (unsigned i = 0; i < bias.size(); ++i) {
    bias[i].setTokenId(x.logit_bias[i].first);
    bias[i].setBias(x.logit_bias[i].second);
  }
  b.setPromptLogprobs(x.prompt_logprobs);
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
  b.setWantsLogits(x.wants_logits);
  b.setNumOutputTokens(x.num_output_tokens);
  fill(b.initSamplingParams(), x.sampling_params);
  b.setNumPromptLogprobs(x.num_prompt_logprobs);
  TROUPE_WIRE_SET_LIST(b, NewBlockIds, x.new_block_ids);
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

// SampleLogprobs and PromptTokenLogprobs both carry a top list.
template <class Builder>
void fill_top(Builder b, const std::vector<TokenLogprob>& x) {
  if (x.empty()) return;
  auto top = b.initTop(static_cast<unsigned>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    top[static_cast<unsigned>(i)].setToken(x[i].token);
    top[static_cast<unsigned>(i)].setLogprob(x[i].logprob);
  }
}

void fill(s::SampleLogprobs::Builder b, const SampleLogprobs& x) {
  b.setLogprob(x.logprob);
  fill_top(b, x.top);
}

void fill(s::PromptLogprobs::Builder b, const PromptLogprobs& x) {
  b.setFirstPosition(x.first_position);
  if (x.tokens.empty()) return;
  auto tokens = b.initTokens(static_cast<unsigned>(x.tokens.size()));
  for (size_t i = 0; i < x.tokens.size(); ++i) {
    auto t = tokens[static_cast<unsigned>(i)];
    t.setToken(x.tokens[i].token);
    t.setLogprob(x.tokens[i].logprob);
    t.setRank(x.tokens[i].rank);
    fill_top(t, x.tokens[i].top);
  }
}

void fill(s::StepResult::Builder b, const StepResult& x) {
  b.setStepId(x.step_id);
  TROUPE_WIRE_SET_LIST(b, Sampled, x.sampled);
  if (!x.logprobs.empty()) {
    auto list = b.initLogprobs(static_cast<unsigned>(x.logprobs.size()));
    for (size_t i = 0; i < x.logprobs.size(); ++i) fill(list[static_cast<unsigned>(i)], x.logprobs[i]);
  }
  if (!x.prompt_logprobs.empty()) {
    auto list = b.initPromptLogprobs(static_cast<unsigned>(x.prompt_logprobs.size()));
    for (size_t i = 0; i < x.prompt_logprobs.size(); ++i) fill(list[static_cast<unsigned>(i)], x.prompt_logprobs[i]);
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

// -- decoding ------------------------------------------------------------------------------------

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
  x.min_tokens = r.getMinTokens();
  x.stop_token_ids = list_of<int32_t>(r.getStopTokenIds());
  for (auto e : r.getLogitBias()) x.logit_bias.emplace_back(e.getTokenId(), e.getBias());
  x.prompt_logprobs = r.getPromptLogprobs();
  return x;
}

GenerationRequest get(s::GenerationRequest::Reader r) {
  GenerationRequest x;
  x.id = r.getId();
  x.prompt_token_ids = list_of<int32_t>(r.getPromptTokenIds());
  x.sampling_params = get(r.getSamplingParams());
  x.eos_token_ids = list_of<int32_t>(r.getEosTokenIds());
  x.priority = r.getPriority();
  const auto arrival = r.getArrival();
  switch (arrival.which()) {
    case s::GenerationRequest::Arrival::NONE: x.arrival = std::nullopt; break;
    case s::GenerationRequest::Arrival::VALUE: x.arrival = arrival.getValue(); break;
    default:
      throw std::invalid_argument("arrival: unknown union member " +
                                  std::to_string(static_cast<unsigned>(arrival.which())));
  }
  x.output_token_ids = list_of<int32_t>(r.getOutputTokenIds());
  return x;
}

ScheduledSequence get(s::ScheduledSequence::Reader r) {
  ScheduledSequence x;
  x.seq_id = r.getSeqId();
  x.is_new = r.getIsNew();
  x.prompt_token_ids = list_of<int32_t>(r.getPromptTokenIds());
  x.output_token_ids = list_of<int32_t>(r.getOutputTokenIds());
  x.num_computed_tokens = r.getNumComputedTokens();
  x.token_ids = list_of<int32_t>(r.getTokenIds());
  x.wants_logits = r.getWantsLogits();
  x.num_output_tokens = r.getNumOutputTokens();
  x.sampling_params = get(r.getSamplingParams());
  x.num_prompt_logprobs = r.getNumPromptLogprobs();
  x.new_block_ids = list_of<int32_t>(r.getNewBlockIds());
  return x;
}

StepPlan get(s::StepPlan::Reader r) {
  StepPlan x;
  x.step_id = r.getStepId();
  x.block_size = r.getBlockSize();
  const auto sequences = r.getSequences();
  x.sequences.reserve(sequences.size());
  for (auto seq : sequences) x.sequences.push_back(get(seq));
  x.finished_seq_ids = list_of<uint64_t>(r.getFinishedSeqIds());
  x.preempted_seq_ids = list_of<uint64_t>(r.getPreemptedSeqIds());
  x.num_batched_tokens = r.getNumBatchedTokens();
  x.num_cached_tokens = r.getNumCachedTokens();
  return x;
}

std::vector<TokenLogprob> top_of(capnp::List<s::TokenLogprob>::Reader top) {
  std::vector<TokenLogprob> x;
  x.reserve(top.size());
  for (auto t : top) x.push_back({t.getToken(), t.getLogprob()});
  return x;
}

SampleLogprobs get(s::SampleLogprobs::Reader r) { return {r.getLogprob(), top_of(r.getTop())}; }

PromptLogprobs get(s::PromptLogprobs::Reader r) {
  PromptLogprobs x;
  x.first_position = r.getFirstPosition();
  const auto tokens = r.getTokens();
  x.tokens.reserve(tokens.size());
  for (auto t : tokens) x.tokens.push_back({t.getToken(), t.getLogprob(), t.getRank(), top_of(t.getTop())});
  return x;
}

StepResult get(s::StepResult::Reader r) {
  StepResult x;
  x.step_id = r.getStepId();
  x.sampled = list_of<int32_t>(r.getSampled());
  const auto logprobs = r.getLogprobs();
  x.logprobs.reserve(logprobs.size());
  for (auto l : logprobs) x.logprobs.push_back(get(l));
  const auto prompt = r.getPromptLogprobs();
  x.prompt_logprobs.reserve(prompt.size());
  for (auto p : prompt) x.prompt_logprobs.push_back(get(p));
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
  x.output_token_ids = list_of<int32_t>(r.getOutputTokenIds());
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

template <class S, class T>
std::vector<uint8_t> encode_as(const T& x, const char* type) {
  return framing::encode_message<S>(type, [&](typename S::Builder b) { fill(b, x); });
}

template <class S, class T>
std::string text_as(const T& x, const char* type) {
  return framing::text_message<S>(type, [&](typename S::Builder b) { fill(b, x); });
}

template <class S>
auto decode_as(std::span<const uint8_t> bytes, const char* type) {
  return framing::decode_message<S>(bytes, type, [](typename S::Reader r) { return get(r); });
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

template <> SamplingParams decode<SamplingParams>(std::span<const uint8_t> b) { return decode_as<s::SamplingParams>(b, "SamplingParams"); }
template <> GenerationRequest decode<GenerationRequest>(std::span<const uint8_t> b) { return decode_as<s::GenerationRequest>(b, "GenerationRequest"); }
template <> ScheduledSequence decode<ScheduledSequence>(std::span<const uint8_t> b) { return decode_as<s::ScheduledSequence>(b, "ScheduledSequence"); }
template <> StepPlan decode<StepPlan>(std::span<const uint8_t> b) { return decode_as<s::StepPlan>(b, "StepPlan"); }
template <> StepResult decode<StepResult>(std::span<const uint8_t> b) { return decode_as<s::StepResult>(b, "StepResult"); }
template <> KvPoolShape decode<KvPoolShape>(std::span<const uint8_t> b) { return decode_as<s::KvPoolShape>(b, "KvPoolShape"); }
template <> FinishedSequence decode<FinishedSequence>(std::span<const uint8_t> b) { return decode_as<s::FinishedSequence>(b, "FinishedSequence"); }

std::string to_text(const SamplingParams& x) { return text_as<s::SamplingParams>(x, "SamplingParams"); }
std::string to_text(const GenerationRequest& x) { return text_as<s::GenerationRequest>(x, "GenerationRequest"); }
std::string to_text(const ScheduledSequence& x) { return text_as<s::ScheduledSequence>(x, "ScheduledSequence"); }
std::string to_text(const StepPlan& x) { return text_as<s::StepPlan>(x, "StepPlan"); }
std::string to_text(const StepResult& x) { return text_as<s::StepResult>(x, "StepResult"); }
std::string to_text(const KvPoolShape& x) { return text_as<s::KvPoolShape>(x, "KvPoolShape"); }
std::string to_text(const FinishedSequence& x) { return text_as<s::FinishedSequence>(x, "FinishedSequence"); }

}  // namespace troupe::wire
