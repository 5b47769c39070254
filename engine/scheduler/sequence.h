#pragma once
// Sequence: the scheduler's state of one request. As in vLLM v1 there is no prefill or decode
// phase: a sequence has token_ids (prompt, then generated) and num_computed_tokens (how many of
// them have KV in the cache). A step computes some of the rest; a step that reaches the end of
// token_ids yields logits and appends one sampled token. Chunked prefill, decode, prefix-cache
// hits and recompute after preemption all follow from that one rule.
//
// With plans outstanding (Scheduler's async mode) a sequence runs ahead of what it knows: a plan
// handed out advances num_computed_tokens at once, and each of its entries that wants logits
// adds a pending output whose value arrives with the plan's result. Scheduling looks at
// num_planned_tokens() (known + pending); stopping and reporting look at the known tokens only.
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

// Why a sequence whose generated tokens are `output` is done, if it is: an EOS last (unless
// ignore_eos) or one of params.stop_token_ids last, once min_tokens outputs exist; else
// max_tokens reached. The one stop rule, applied by the scheduler after each
// sampled token, to a request that comes with output tokens, and by a gateway to what it
// received from a scheduler that died (it may have streamed a last token and died before
// reporting the sequence finished).
std::optional<SequenceFinishReason> output_stop_reason(std::span<const int32_t> output, const SamplingParams& params,
                                                       std::span<const int32_t> eos_token_ids);

// Order of service: lower priority value first, then earlier arrival, then id (a total order).
using QueueKey = std::tuple<int32_t, uint64_t, SeqId>;

struct Sequence {
  Sequence(GenerationRequest request, uint64_t arrival_order);

  SeqId id = 0;
  std::vector<int32_t> token_ids;       // [num_prompt_tokens + generated]: the known tokens
  int32_t num_prompt_tokens = 0;
  int32_t num_pending_outputs = 0;      // sampled by outstanding plans, values not known yet; they
                                        // follow token_ids. At most one when a plan is made.
  int32_t num_computed_tokens = 0;      // tokens whose KV is in the cache or is written by a plan
                                        // already handed out; <= num_planned_tokens()
  SamplingParams sampling_params;
  std::vector<int32_t> eos_token_ids;
  int32_t priority = 0;
  uint64_t arrival = 0;
  SequenceStatus status = SequenceStatus::Waiting;
  bool executor_state_stale = true;     // next plan entry must say is_new (admission, resume)
  int32_t num_blocks_sent = 0;          // blocks of its table the executor holds: sent since its
                                        // latest is_new entry (StepPlan sends only the rest)
  int32_t num_cached_tokens = 0;        // prefix-cache hit at its latest admission
  int32_t num_preemptions = 0;
  uint64_t run = 0;                     // which admission this is (0: never admitted); an outstanding
                                        // plan's entry applies only to the run that it was planned for

  QueueKey queue_key() const { return {priority, arrival, id}; }
  int32_t num_tokens() const { return static_cast<int32_t>(token_ids.size()); }  // known ones
  int32_t num_output_tokens() const { return num_tokens() - num_prompt_tokens; }  // known ones
  int32_t num_planned_tokens() const { return num_tokens() + num_pending_outputs; }
  int32_t num_uncomputed_tokens() const { return num_planned_tokens() - num_computed_tokens; }
  // Its outstanding plans sample its last token (max_tokens): nothing more to plan for it.
  bool all_outputs_planned() const {
    return num_output_tokens() + num_pending_outputs >= sampling_params.max_tokens;
  }
  std::span<const int32_t> prompt_ids() const {
    return std::span<const int32_t>(token_ids).first(static_cast<size_t>(num_prompt_tokens));
  }
  std::span<const int32_t> output_ids() const {
    return std::span<const int32_t>(token_ids).subspan(static_cast<size_t>(num_prompt_tokens));
  }
  // Why the sequence is done after its latest known token, if it is: EOS before max_tokens.
  std::optional<SequenceFinishReason> stop_reason() const;
};

}  // namespace troupe
