#include "engine/runtime/step_runner.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "engine/scheduler/forward_batch_from_plan.h"

namespace troupe {

StepRunner::StepRunner(ModelBackend& backend, int32_t num_blocks, int32_t block_size) : backend_(backend) {
  backend_.allocate_kv_cache(num_blocks, block_size);
  if (trace_) backend_.enable_step_timing();
}

std::optional<uint64_t> StepRunner::oldest_pending_step() const {
  if (pending_.empty()) return std::nullopt;
  return pending_.front().step_id;
}

std::optional<int32_t> StepRunner::pending_row_of(const ScheduledSequence& s) const {
  if (pending_.empty() || s.is_new) return std::nullopt;
  const PendingStep& last = pending_.back();
  const auto row = last.row_of.find(s.seq_id);
  const auto seq = sequences_.find(s.seq_id);
  if (row == last.row_of.end() || seq == sequences_.end()) return std::nullopt;
  if (last.rows[row->second].incarnation != seq->second.incarnation) return std::nullopt;
  return row->second;
}

bool StepRunner::can_launch_ahead(const StepPlan& plan) const {
  if (!backend_.pipelines() || pending_.size() != 1) return false;
  for (const ScheduledSequence& s : plan.sequences) {
    if (!s.wants_logits || !pending_row_of(s)) continue;
    // Penalties would read an output that still lacks the pending step's token.
    if (sequences_.at(s.seq_id).params.has_penalties()) return false;
  }
  return true;
}

std::vector<DeferredToken> StepRunner::resolve_placeholders(const StepPlan& plan, ForwardBatch& batch) const {
  std::vector<DeferredToken> deferred;
  for (size_t i = 0; i < plan.sequences.size(); ++i) {
    const ScheduledSequence& s = plan.sequences[i];
    if (s.token_ids.size() != 1 || s.token_ids[0] != kTokenSampledByExecutor) continue;
    const int32_t token_index = batch.sequences[i].token_begin;
    if (const auto row = pending_row_of(s)) {
      deferred.push_back({token_index, *row});
      continue;
    }
    const SequenceState& st = sequences_.at(s.seq_id);
    if (s.is_new || st.output.empty())
      throw std::logic_error("plan asks for the last sampled token of sequence " + std::to_string(s.seq_id) +
                             ", which this executor has not sampled");
    batch.token_ids[token_index] = st.output.back();
  }
  return deferred;
}

void StepRunner::add_prompt_targets(const StepPlan& plan, ForwardBatch& batch) const {
  if (!backend_.computes_prompt_logprobs()) return;  // it answers none; the HTTP layer refused the field
  for (size_t i = 0; i < plan.sequences.size(); ++i) {
    const ScheduledSequence& s = plan.sequences[i];
    if (s.num_prompt_logprobs <= 0) continue;
    const SequenceState& st = sequences_.at(s.seq_id);
    // Token j of the entry (position num_computed_tokens + j) is scored against the prompt token after it.
    const size_t first = static_cast<size_t>(s.num_computed_tokens) + 1, end = first + static_cast<size_t>(s.num_prompt_logprobs);
    if (s.num_prompt_logprobs > s.num_new_tokens() || end > st.prompt.size())
      throw std::logic_error("plan scores prompt tokens [" + std::to_string(first) + ", " + std::to_string(end) +
                             ") of sequence " + std::to_string(s.seq_id) + ", whose prompt has " +
                             std::to_string(st.prompt.size()));
    SequenceSlice& slice = batch.sequences[i];
    slice.prompt_targets.assign(st.prompt.begin() + static_cast<std::ptrdiff_t>(first),
                                st.prompt.begin() + static_cast<std::ptrdiff_t>(end));
    slice.prompt_top_n = std::max(st.params.prompt_logprobs, 0);
  }
}

void StepRunner::launch(const StepPlan& plan, std::vector<float> stage_input) {
  if (!pending_.empty() && !can_launch_ahead(plan))
    throw std::logic_error("step " + std::to_string(plan.step_id) + " launched before step " +
                           std::to_string(pending_.front().step_id) + " was collected, which it cannot be");
  if (trace_) trace_->take_up();
  // Drops come first: an aborted id may be reused by a new request in the same plan.
  for (SeqId id : plan.finished_seq_ids) sequences_.erase(id);
  for (SeqId id : plan.preempted_seq_ids) sequences_.erase(id);
  tables_.apply(plan);  // the same drops, then each entry's new blocks; throws on a table never sent
  PendingStep step{.step_id = plan.step_id};
  if (plan.empty()) return pending_.push_back(std::move(step));
  // A continued sequence this executor never saw was refused by tables_.apply (its table was never
  // sent either): sequences_ and tables_ gain and drop the same ids.
  for (const ScheduledSequence& s : plan.sequences) {
    if (!s.is_new) continue;
    const auto& p = s.sampling_params;
    sequences_[s.seq_id] = {s.prompt_token_ids, s.output_token_ids, p, p.seed ? *p.seed : seed_source_(),
                            next_incarnation_++};
  }
  ForwardBatch batch = make_forward_batch(plan, tables_);
  batch.hidden_states = std::move(stage_input);
  const std::vector<DeferredToken> deferred = resolve_placeholders(plan, batch);
  add_prompt_targets(plan, batch);
  std::vector<SamplingRow> rows;
  rows.reserve(plan.num_logits());
  for (const ScheduledSequence& s : plan.sequences) {
    if (!s.wants_logits) continue;
    const SequenceState& st = sequences_.at(s.seq_id);
    step.row_of[s.seq_id] = static_cast<int32_t>(rows.size());
    step.rows.push_back({s.seq_id, st.incarnation});
    rows.push_back({&st.params, st.seed, static_cast<uint64_t>(s.num_output_tokens), st.prompt, st.output});
  }
  if (trace_) trace_->launching(plan);
  backend_.launch(batch, rows, deferred);
  step.on_backend = true;
  pending_.push_back(std::move(step));
}

bool StepRunner::ready() const {
  if (pending_.empty()) return false;
  return !pending_.front().on_backend || backend_.ready();
}

SampledTokens StepRunner::collect() {
  if (pending_.empty()) throw std::logic_error("collect() with no step launched");
  // Off the queue before the backend is asked: a step whose collect threw is not pending anymore.
  const PendingStep step = std::move(pending_.front());
  pending_.pop_front();
  if (!step.on_backend) return {};
  SampledTokens sampled = backend_.collect();
  if (trace_) trace_->collected(backend_.last_step_timing());
  if (sampled.tokens.size() != step.rows.size())
    throw std::logic_error("backend returned " + std::to_string(sampled.tokens.size()) + " tokens for " +
                           std::to_string(step.rows.size()) + " rows");
  for (size_t i = 0; i < step.rows.size(); ++i) {
    const auto it = sequences_.find(step.rows[i].seq_id);
    if (it != sequences_.end() && it->second.incarnation == step.rows[i].incarnation)
      it->second.output.push_back(sampled.tokens[i]);
  }
  return sampled;
}

StepResult step_result(uint64_t step_id, SampledTokens sampled) {
  return StepResult{step_id, std::move(sampled.tokens), std::move(sampled.logprobs), std::move(sampled.prompt_logprobs)};
}

SampledTokens StepRunner::run(const StepPlan& plan, std::vector<float> stage_input) {
  if (!pending_.empty()) throw std::logic_error("run() with a step pending: collect it first");
  launch(plan, std::move(stage_input));
  return collect();
}

}  // namespace troupe
