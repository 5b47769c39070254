#include "engine/runtime/step_runner.h"

#include <stdexcept>
#include <string>

#include "engine/scheduler/forward_batch_from_plan.h"

namespace troupe {

StepRunner::StepRunner(ModelBackend& backend, int32_t num_blocks, int32_t block_size) : backend_(backend) {
  backend_.allocate_kv_cache(num_blocks, block_size);
  if (trace_) backend_.enable_step_timing();
}

void StepRunner::resolve_placeholders(const StepPlan& plan, ForwardBatch& batch) const {
  for (size_t i = 0; i < plan.sequences.size(); ++i) {
    const ScheduledSequence& s = plan.sequences[i];
    if (s.token_ids.size() != 1 || s.token_ids[0] != kTokenSampledByExecutor) continue;
    const SequenceState& st = sequences_.at(s.seq_id);
    if (s.is_new || st.output.empty())
      throw std::logic_error("plan asks for the last sampled token of sequence " + std::to_string(s.seq_id) +
                             ", which this executor has not sampled");
    batch.token_ids[batch.sequences[i].token_begin] = st.output.back();
  }
}

SampledTokens StepRunner::run(const StepPlan& plan) {
  if (trace_) trace_->take_up();
  // Drops come first: an aborted id may be reused by a new request in the same plan.
  for (SeqId id : plan.finished_seq_ids) sequences_.erase(id);
  for (SeqId id : plan.preempted_seq_ids) sequences_.erase(id);
  if (plan.empty()) return {};
  for (const ScheduledSequence& s : plan.sequences) {
    if (s.is_new) {
      const auto& p = s.sampling_params;
      sequences_[s.seq_id] = {s.prompt_token_ids, s.output_token_ids, p, p.seed ? *p.seed : seed_source_()};
    } else if (!sequences_.count(s.seq_id)) {
      throw std::logic_error("plan continues sequence " + std::to_string(s.seq_id) + " that this executor never saw");
    }
  }
  ForwardBatch batch = make_forward_batch(plan);
  resolve_placeholders(plan, batch);
  std::vector<SamplingRow> rows;
  rows.reserve(plan.num_logits());
  for (const ScheduledSequence& s : plan.sequences) {
    if (!s.wants_logits) continue;
    const SequenceState& st = sequences_.at(s.seq_id);
    rows.push_back({&st.params, st.seed, static_cast<uint64_t>(s.num_output_tokens), st.prompt, st.output});
  }
  if (trace_) trace_->begin();
  SampledTokens sampled = backend_.run(batch, rows);
  if (trace_) trace_->end(plan, backend_.last_step_timing());
  size_t i = 0;
  for (const ScheduledSequence& s : plan.sequences)
    if (s.wants_logits) sequences_.at(s.seq_id).output.push_back(sampled.tokens.at(i++));
  return sampled;
}

}  // namespace troupe
