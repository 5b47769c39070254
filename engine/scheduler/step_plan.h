#pragma once
// StepPlan: what one iteration computes, as a plain value the scheduler hands to the executors.
// It names no model types; make_forward_batch() (forward_batch_from_plan.h) turns it into the
// model's ForwardBatch. Like vLLM v1's SchedulerOutput it is a diff against the plans before it:
// an executor keeps per-sequence state (sampler RNG, penalty counts, and the block table, in
// SequenceBlockTables) from an is_new entry until the id shows up in finished_seq_ids or
// preempted_seq_ids, and a later entry brings only the blocks added since. Apply those two lists
// before the entries: an aborted id may be reused by a new request in the same plan. Plans must
// reach an executor in step order and none may be skipped; an executor that may have missed one
// is initialized again and then gets only is_new entries (Scheduler::reset_executor_state).
// Positions and slot mapping are not sent: make_forward_batch() derives them from
// num_computed_tokens, block_size and the kept table.
#include <cstdint>
#include <vector>

#include "engine/kv/seq_id.h"
#include "engine/sampling/sampling_params.h"

namespace troupe {

// A decode entry's token that the scheduler does not know yet because the step that samples it
// is still running: the executor substitutes the token it sampled last for that sequence. This
// lets the scheduler plan step N+1 while step N executes.
inline constexpr int32_t kTokenSampledByExecutor = -1;

// One sequence's share of a step: tokens [num_computed_tokens, num_computed_tokens + n) of it.
struct ScheduledSequence {
  SeqId seq_id = 0;
  // First entry since admission or since a preemption: drop any state held for seq_id and start
  // from the fields below. Only then are prompt_token_ids / output_token_ids filled.
  bool is_new = false;
  std::vector<int32_t> prompt_token_ids;  // [prompt_len] when is_new (penalties need them), else empty
  std::vector<int32_t> output_token_ids;  // tokens generated before a preemption or resubmission,
                                          // when is_new; else empty (the executor saw them sampled)
  int32_t num_computed_tokens = 0;        // tokens already in the KV cache (prefix hits included);
                                          // the position of token_ids[0]
  std::vector<int32_t> token_ids;         // [n] tokens to compute this step; a decode's single
                                          // token may be kTokenSampledByExecutor (never when is_new)
  std::vector<int32_t> new_block_ids;     // [k] physical blocks appended to this sequence's table
                                          // since its previous entry (often none: a decode needs a
                                          // block every block_size tokens); its whole table when
                                          // is_new. Kept table + these cover >= context_len() tokens
  bool wants_logits = false;              // this step reaches the end of the known tokens, so its
                                          // last position is sampled (false for a prefill chunk)
  int32_t num_output_tokens = 0;          // tokens generated so far; a token sampled now is output
                                          // number num_output_tokens (0-based): the seeded RNG's
                                          // position, so a resumed sequence draws what it would have
  SamplingParams sampling_params;         // how to sample it
  int32_t num_prompt_logprobs = 0;        // sampling_params.prompt_logprobs >= 0: the first this
                                          // many of token_ids are scored against the prompt token
                                          // after each (positions num_computed_tokens + 1 ...); the
                                          // rest, if any, reach past the prompt's second-to-last

  int32_t num_new_tokens() const { return static_cast<int32_t>(token_ids.size()); }
  int32_t context_len() const { return num_computed_tokens + num_new_tokens(); }  // after this step
};

struct StepPlan {
  uint64_t step_id = 0;                        // increasing; results are applied in this order
  int32_t block_size = 16;                     // tokens per KV block (slot = block * block_size + offset)
  std::vector<ScheduledSequence> sequences;    // decodes first, then prefill chunks, then admissions;
                                               // sampled tokens come back in this order
  std::vector<SeqId> finished_seq_ids;         // finished or aborted since the previous plan: drop
                                               // their state (their blocks may be reused from now)
  std::vector<SeqId> preempted_seq_ids;        // preempted by this plan: drop their state; they
                                               // come back later as is_new
  int32_t num_batched_tokens = 0;              // sum of token_ids sizes, <= max_num_batched_tokens
  int32_t num_cached_tokens = 0;               // prefix-cache hit tokens of this plan's admissions

  bool empty() const { return sequences.empty(); }
  int32_t num_logits() const {                 // rows of logits the executor returns
    int32_t n = 0;
    for (const auto& s : sequences) n += s.wants_logits;
    return n;
  }
};

}  // namespace troupe
