#pragma once
// StepRunner: the executor's side of a step, without the actor around it. It keeps what sampling
// needs per sequence (prompt and output tokens, parameters, seed) and its KV block table (the plan
// sends only new blocks) from a plan entry marked is_new until the sequence shows up as finished
// or preempted, and has its backend run the plan and sample one token for every entry that wants
// logits. A fresh runner holds nothing: the plans it gets must start every sequence is_new.
//
// A step is launched, then collected. With a backend that pipelines, step N+1 may be launched
// while step N is still pending (can_launch_ahead): a decode of N+1 whose token N samples then
// becomes a DeferredToken the backend fills on the device, and the host learns N's tokens only at
// collect(). At most two steps are pending, and only right after such a launch.
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include "engine/kv/seq_id.h"
#include "engine/runtime/model_backend.h"
#include "engine/runtime/step_trace.h"
#include "engine/scheduler/sequence_block_tables.h"
#include "engine/scheduler/step_plan.h"
#include "engine/scheduler/step_result.h"

namespace troupe {

class StepRunner {
 public:
  // Allocates the backend's KV pool (throws std::invalid_argument when it cannot hold it).
  StepRunner(ModelBackend& backend, int32_t num_blocks, int32_t block_size);

  // launch() + collect() with nothing pending: the lock-step way (LocalEngine).
  SampledTokens run(const StepPlan& plan, std::vector<float> stage_input = {});

  // Whether `plan` may be launched now although a step is pending: the backend pipelines, exactly
  // one step is pending, and no entry of the plan that samples a sequence whose previous token the
  // pending step samples has penalties (they read the token history, which the host does not have
  // yet). False when nothing is pending (just launch).
  bool can_launch_ahead(const StepPlan& plan) const;
  // Applies the plan's drops and admissions and hands the step to the backend. With a step
  // pending, only when can_launch_ahead(plan), else std::logic_error. Throws what the backend
  // throws, and std::logic_error on a plan inconsistent with what this runner holds. On the last
  // stage of a pipeline, `stage_input` is the stage before's hidden states for this plan
  // ([num_batched_tokens, hidden]; take_stage_input checks them); else empty.
  void launch(const StepPlan& plan, std::vector<float> stage_input = {});
  // Whether collect() would return without waiting; false when nothing is pending.
  bool ready() const;
  // The oldest pending step's tokens (and logprobs where asked), one per entry with wants_logits,
  // in plan order; each is appended to its sequence's output unless that sequence was dropped
  // since the launch (a finished or preempted id, maybe reused by a new request already).
  SampledTokens collect();

  size_t num_pending() const { return pending_.size(); }
  std::optional<uint64_t> oldest_pending_step() const;
  size_t num_tracked_sequences() const { return sequences_.size(); }
  const SequenceBlockTables& block_tables() const { return tables_; }

 private:
  struct SequenceState {
    std::vector<int32_t> prompt;
    std::vector<int32_t> output;
    SamplingParams params;
    uint64_t seed = 0;         // the request's seed, or one drawn when it came without
    uint64_t incarnation = 0;  // which admission of this id: a reused id must not get the
                               // tokens a pending step sampled for its predecessor
  };
  struct RowOwner {
    SeqId seq_id = 0;
    uint64_t incarnation = 0;
  };
  struct PendingStep {
    uint64_t step_id = 0;
    bool on_backend = false;             // an empty plan never reaches the backend
    std::vector<RowOwner> rows;          // [logit rows] whose token each row is
    std::unordered_map<SeqId, int32_t> row_of;  // seq_id -> row, for deferring the next step's tokens
  };

  // The row of the last pending step that samples the token `s` continues from, if any.
  std::optional<int32_t> pending_row_of(const ScheduledSequence& s) const;
  // Names each entry's scored prompt tokens (num_prompt_logprobs) in its batch slice, when the
  // backend scores prompts at all.
  void add_prompt_targets(const StepPlan& plan, ForwardBatch& batch) const;
  // Replaces kTokenSampledByExecutor with this sequence's last sampled token, or defers it to the
  // backend when the pending step samples that token.
  std::vector<DeferredToken> resolve_placeholders(const StepPlan& plan, ForwardBatch& batch) const;

  ModelBackend& backend_;
  std::unordered_map<SeqId, SequenceState> sequences_;
  SequenceBlockTables tables_;       // each held sequence's KV blocks, kept across plans
  std::deque<PendingStep> pending_;  // launched, not collected; oldest first
  uint64_t next_incarnation_ = 1;
  std::mt19937_64 seed_source_{std::random_device{}()};
  std::unique_ptr<StepTrace> trace_ = StepTrace::from_env();
};

// The answer to step `step_id` from what the runner collected for it.
StepResult step_result(uint64_t step_id, SampledTokens sampled);

}  // namespace troupe
