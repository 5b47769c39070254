#pragma once
// Sequence: the scheduler's state of one request. As in vLLM v1 there is no prefill or decode
// phase: a sequence has token_ids (prompt, then generated) and num_computed_tokens (how many of
// them have KV in the cache). A step computes some of the rest; a step that reaches the end of
// token_ids yields logits and appends one sampled token. Chunked prefill, decode, prefix-cache
// hits and recompute after preemption all follow from that one rule.
#include <cstdint>
#include <optional>
#include <span>
#include <tuple>
#include <vector>

#include "engine/kv/seq_id.h"
#include "engine/sampling/sampling_params.h"
#include "engine/scheduler/finished_sequence.h"
#include "engine/scheduler/generation_request.h"

namespace troupe {

enum class SequenceStatus { Waiting, Running };

// Order of service: lower priority value first, then earlier arrival, then id (a total order).
using QueueKey = std::tuple<int32_t, uint64_t, SeqId>;

struct Sequence {
  Sequence(GenerationRequest request, uint64_t arrival_order);

  SeqId id = 0;
  std::vector<int32_t> token_ids;       // [num_prompt_tokens + generated]
  int32_t num_prompt_tokens = 0;
  int32_t num_computed_tokens = 0;      // tokens of token_ids whose KV is in the cache
  SamplingParams sampling_params;
  std::vector<int32_t> eos_token_ids;
  int32_t priority = 0;
  uint64_t arrival = 0;
  SequenceStatus status = SequenceStatus::Waiting;
  bool executor_state_stale = true;     // next plan entry must say is_new (admission, resume)
  int32_t num_cached_tokens = 0;        // prefix-cache hit at its latest admission
  int32_t num_preemptions = 0;

  QueueKey queue_key() const { return {priority, arrival, id}; }
  int32_t num_tokens() const { return static_cast<int32_t>(token_ids.size()); }
  int32_t num_output_tokens() const { return num_tokens() - num_prompt_tokens; }
  int32_t num_uncomputed_tokens() const { return num_tokens() - num_computed_tokens; }
  std::span<const int32_t> prompt_ids() const {
    return std::span<const int32_t>(token_ids).first(static_cast<size_t>(num_prompt_tokens));
  }
  std::span<const int32_t> output_ids() const {
    return std::span<const int32_t>(token_ids).subspan(static_cast<size_t>(num_prompt_tokens));
  }
  // Why the sequence is done after its latest token, if it is: EOS before max_tokens.
  std::optional<SequenceFinishReason> stop_reason() const;
};

}  // namespace troupe
