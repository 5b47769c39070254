#include "engine/scheduler/scheduler.h"

#include <algorithm>
#include <stdexcept>

namespace troupe {

struct Scheduler::StepDraft {
  std::vector<Pick> picks;          // in plan order
  int32_t budget = 0;               // tokens left this step
  int32_t max_picks = 0;            // max_sequences_per_plan() when the step began
  bool full() const { return static_cast<int32_t>(picks.size()) >= max_picks; }
  std::vector<SeqId> preempted;
  int32_t num_cached_tokens = 0;
};

namespace {

SchedulerConfig checked(SchedulerConfig c) {
  const std::string err = c.validate();
  if (!err.empty()) throw std::invalid_argument("SchedulerConfig: " + err);
  return c;
}

}  // namespace

Scheduler::Scheduler(SchedulerConfig config)
    : config_(checked(config)),
      pool_(BlockPoolConfig{config_.num_blocks, config_.block_size, config_.enable_prefix_caching}) {}

const Sequence* Scheduler::find(SeqId id) const {
  auto it = sequences_.find(id);
  return it == sequences_.end() ? nullptr : &it->second;
}

std::string Scheduler::check_request(const GenerationRequest& r) const {
  if (sequences_.count(r.id)) return "a sequence with id " + std::to_string(r.id) + " is already live";
  if (r.prompt_token_ids.empty()) return "the prompt has no tokens";
  const std::string params_error = r.sampling_params.validate();
  if (!params_error.empty()) return "sampling_params: " + params_error;
  const auto& p = r.sampling_params;
  if (const auto done = output_stop_reason(r.output_token_ids, p, r.eos_token_ids))
    return std::string("output_token_ids already end the sequence (") + sequence_finish_reason_name(*done) + ")";
  // The last sampled token is never computed, so the cache holds at most prompt + max_tokens - 1.
  const int64_t most = static_cast<int64_t>(r.prompt_token_ids.size()) + p.max_tokens - 1;
  const int64_t blocks = (most + config_.block_size - 1) / config_.block_size;
  if (blocks > config_.num_blocks)
    return "prompt + max_tokens needs " + std::to_string(blocks) + " KV blocks, the pool has " +
           std::to_string(config_.num_blocks);
  return {};
}

void Scheduler::add_request(GenerationRequest request) {
  const std::string err = check_request(request);
  if (!err.empty()) throw std::invalid_argument("Scheduler::add_request: " + err);
  const uint64_t arrival = arrivals_.number(request.arrival);
  const SeqId id = request.id;
  auto [it, inserted] = sequences_.emplace(id, Sequence(std::move(request), arrival));
  waiting_.insert(it->second.queue_key());
}

StepPlan Scheduler::schedule() {
  if (num_outstanding_plans() >= max_outstanding_plans())
    throw std::logic_error("Scheduler::schedule: step " + std::to_string(outstanding_.front().step_id) +
                           " has not been passed to update()");
  StepDraft draft;
  draft.budget = config_.max_num_batched_tokens;
  draft.max_picks = max_sequences_per_plan();
  schedule_running(draft, /*decodes=*/true);
  schedule_running(draft, /*decodes=*/false);
  if (draft.preempted.empty()) admit_waiting(draft);

  StepPlan plan;
  plan.step_id = next_step_id_++;
  plan.block_size = config_.block_size;
  plan.finished_seq_ids = std::move(finished_since_plan_);
  finished_since_plan_.clear();
  plan.preempted_seq_ids = std::move(draft.preempted);
  plan.num_cached_tokens = draft.num_cached_tokens;
  plan.sequences.reserve(draft.picks.size());
  OutstandingPlan record;
  record.step_id = plan.step_id;
  record.entries.reserve(draft.picks.size());
  for (const Pick& p : draft.picks) {
    const ScheduledSequence& s = plan.sequences.emplace_back(make_entry(*p.seq, p.num_new_tokens));
    record.entries.push_back({s.seq_id, p.seq->run, s.context_len(), s.wants_logits});
    record.num_logits += s.wants_logits;
    plan.num_batched_tokens += p.num_new_tokens;
  }
  if (!plan.empty()) {
    outstanding_.push_back(std::move(record));
    ++stats_.num_steps;
  }
  stats_.num_cached_tokens += plan.num_cached_tokens;
  return plan;
}

int32_t Scheduler::max_sequences_per_plan() const {
  if (config_.pipeline_stages <= 1) return config_.max_num_seqs;
  const int32_t live = std::min(config_.max_num_seqs, num_running() + num_waiting());
  const int32_t plans = max_outstanding_plans();
  return std::max(1, (live + plans - 1) / plans);
}

void Scheduler::schedule_running(StepDraft& draft, bool decodes) {
  // A snapshot: preemption removes entries from running_ while we walk.
  std::vector<SeqId> order;
  order.reserve(running_.size());
  for (const QueueKey& k : running_) order.push_back(std::get<2>(k));
  for (SeqId id : order) {
    if (draft.budget <= 0 || draft.full()) break;
    Sequence& seq = sequences_.at(id);
    if (seq.status != SequenceStatus::Running) continue;  // preempted by an earlier one
    if (seq.all_outputs_planned()) continue;             // finishes when its results come
    // A pipeline's stage 0 cannot embed a token its last stage has not returned yet.
    if (config_.pipeline_stages > 1 && seq.num_pending_outputs > 0) continue;
    const int32_t uncomputed = seq.num_uncomputed_tokens();
    if (decodes != (uncomputed == 1)) continue;
    grow_or_preempt(draft, seq, chunk_size(uncomputed, draft.budget));
  }
}

bool Scheduler::grow_or_preempt(StepDraft& draft, Sequence& seq, int32_t num_new_tokens) {
  while (!pool_.append_slots(seq.id, seq.num_computed_tokens + num_new_tokens)) {
    // running_ holds seq itself, so it is never empty here.
    Sequence& victim = sequences_.at(std::get<2>(*running_.rbegin()));
    preempt(draft, victim);
    if (&victim == &seq) return false;
  }
  draft.picks.push_back({&seq, num_new_tokens});
  draft.budget -= num_new_tokens;
  return true;
}

void Scheduler::preempt(StepDraft& draft, Sequence& seq) {
  // A victim already picked this step gives its tokens back.
  for (auto it = draft.picks.begin(); it != draft.picks.end(); ++it) {
    if (it->seq == &seq) {
      draft.budget += it->num_new_tokens;
      draft.picks.erase(it);
      break;
    }
  }
  requeue(seq);
  draft.preempted.push_back(seq.id);
  ++stats_.num_preemptions;
}

void Scheduler::requeue(Sequence& seq) {
  pool_.free(seq.id);
  running_.erase(seq.queue_key());
  seq.status = SequenceStatus::Waiting;
  seq.num_computed_tokens = 0;
  seq.executor_state_stale = true;
  ++seq.num_preemptions;
  waiting_.insert(seq.queue_key());
}

void Scheduler::reset_executor_state() {
  // A snapshot: requeue() removes entries from running_ while we walk.
  std::vector<SeqId> order;
  order.reserve(running_.size());
  for (const QueueKey& k : running_) order.push_back(std::get<2>(k));
  for (SeqId id : order) requeue(sequences_.at(id));
  // Waiting sequences hold no blocks, so every block is free now; what the cached ones held died
  // with the executor.
  pool_.clear_cache();
  // Their tokens will never come. The requeues above undid what the plans computed; what they
  // would have sampled is forgotten, so each sequence resumes at its next known output index.
  outstanding_.clear();
  for (auto& [id, seq] : sequences_) seq.num_pending_outputs = 0;
  // The new executor holds no state to drop.
  finished_since_plan_.clear();
  ++stats_.num_executor_resets;
}

void Scheduler::admit_waiting(StepDraft& draft) {
  while (!waiting_.empty() && draft.budget > 0 && !draft.full() &&
         static_cast<int32_t>(running_.size()) < config_.max_num_seqs) {
    const QueueKey key = *waiting_.begin();
    Sequence& seq = sequences_.at(std::get<2>(key));
    // Preempted while a plan sampling its next token was outstanding: that token is part of what
    // it must recompute, so it waits for the result (the very next update()).
    if (seq.num_pending_outputs > 0) break;
    // A request that asked for prompt logprobs needs the logits of every prompt position, which a
    // prefix-cache hit would skip: it reads nothing from the cache (vLLM skips it likewise), though
    // its own full blocks still enter the cache for others.
    const PrefixMatch match =
        seq.sampling_params.prompt_logprobs >= 0 ? PrefixMatch{} : pool_.match_prefix(seq.token_ids);
    const int32_t n = chunk_size(seq.num_tokens() - match.num_tokens, draft.budget);
    // The head waits for room rather than letting later (smaller) requests pass it forever.
    if (!pool_.allocate(seq.id, match.num_tokens + n, match)) break;
    waiting_.erase(waiting_.begin());
    running_.insert(key);
    seq.status = SequenceStatus::Running;
    seq.run = next_run_++;
    seq.num_computed_tokens = match.num_tokens;
    seq.num_cached_tokens = match.num_tokens;
    draft.num_cached_tokens += match.num_tokens;
    draft.picks.push_back({&seq, n});
    draft.budget -= n;
  }
}

int32_t Scheduler::chunk_size(int32_t uncomputed, int32_t budget) const {
  int32_t cap = budget;
  if (config_.long_prefill_token_threshold > 0) cap = std::min(cap, config_.long_prefill_token_threshold);
  return std::min(uncomputed, cap);
}

ScheduledSequence Scheduler::make_entry(Sequence& seq, int32_t n) {
  ScheduledSequence s;
  s.seq_id = seq.id;
  s.is_new = seq.executor_state_stale;
  if (s.is_new) {
    const auto prompt = seq.prompt_ids();
    const auto output = seq.output_ids();
    s.prompt_token_ids.assign(prompt.begin(), prompt.end());
    s.output_token_ids.assign(output.begin(), output.end());
    seq.executor_state_stale = false;
  }
  const int32_t start = seq.num_computed_tokens;
  s.num_computed_tokens = start;
  const int32_t known_end = std::min(start + n, seq.num_tokens());
  s.token_ids.reserve(static_cast<size_t>(n));
  s.token_ids.assign(seq.token_ids.begin() + start, seq.token_ids.begin() + known_end);
  if (known_end < start + n) {
    // Only a decode can reach a token not known yet: a preempted sequence is readmitted (is_new)
    // only once its pending output arrived, and a prefill chunk ends where the prompt does.
    if (n != 1 || s.is_new || seq.num_pending_outputs != 1 || config_.pipeline_stages > 1)
      throw std::logic_error("Scheduler: sequence " + std::to_string(seq.id) + " planned past its pending output");
    s.token_ids.push_back(kTokenSampledByExecutor);
  }
  // The executor keeps the table from the is_new entry on (SequenceBlockTables): send what it
  // lacks. A running sequence's table only grows; one that lost its blocks comes back is_new.
  const auto table = pool_.block_table(seq.id);
  if (s.is_new) seq.num_blocks_sent = 0;
  if (static_cast<size_t>(seq.num_blocks_sent) > table.size())
    throw std::logic_error("Scheduler: sequence " + std::to_string(seq.id) + "'s block table shrank while it ran");
  s.new_block_ids.assign(table.begin() + seq.num_blocks_sent, table.end());
  seq.num_blocks_sent = static_cast<int32_t>(table.size());
  s.wants_logits = start + n == seq.num_planned_tokens();
  s.num_output_tokens = seq.num_output_tokens() + seq.num_pending_outputs;
  s.sampling_params = seq.sampling_params;
  // Token i of the entry is scored against the prompt token after it, while that one is a prompt
  // token; a recompute after preemption scores the prompt again (the gateway keeps one per position).
  if (seq.sampling_params.prompt_logprobs >= 0)
    s.num_prompt_logprobs = std::clamp(seq.num_prompt_tokens - 1 - start, 0, n);
  // Handed out: the executor computes these tokens before any later plan, so later plans start
  // from here; the token it samples is pending until update().
  seq.num_computed_tokens += n;
  seq.num_pending_outputs += s.wants_logits;
  return s;
}

std::vector<FinishedSequence> Scheduler::update(const StepPlan& plan, std::span<const int32_t> sampled,
                                                std::vector<SampledToken>* new_tokens) {
  if (plan.empty()) {
    if (!sampled.empty()) throw std::invalid_argument("Scheduler::update: tokens for an empty plan");
    return {};
  }
  return update(plan.step_id, sampled, new_tokens);
}

std::vector<FinishedSequence> Scheduler::update(uint64_t step_id, std::span<const int32_t> sampled,
                                                std::vector<SampledToken>* new_tokens) {
  if (outstanding_.empty() || outstanding_.front().step_id != step_id)
    throw std::logic_error("Scheduler::update: step " + std::to_string(step_id) +
                           " is not the oldest outstanding plan");
  const OutstandingPlan& record = outstanding_.front();
  if (static_cast<int32_t>(sampled.size()) != record.num_logits)
    throw std::invalid_argument("Scheduler::update: " + std::to_string(sampled.size()) +
                                " sampled tokens for " + std::to_string(record.num_logits) + " logits");

  std::vector<FinishedSequence> finished;
  size_t next_sample = 0;
  for (const PlannedEntry& e : record.entries) {
    const int32_t token = e.wants_logits ? sampled[next_sample++] : kTokenSampledByExecutor;
    auto it = sequences_.find(e.seq_id);
    // Finished or aborted since, its id maybe reused by a newer run: the entry is void.
    if (it == sequences_.end() || it->second.run != e.run) continue;
    Sequence& seq = it->second;
    // A sequence preempted since holds no blocks, but what it sampled is still its next output.
    if (seq.status == SequenceStatus::Running) pool_.cache_full_blocks(seq.id, seq.token_ids, e.context_len);
    if (!e.wants_logits) continue;
    seq.token_ids.push_back(token);
    --seq.num_pending_outputs;
    if (new_tokens) new_tokens->push_back({seq.id, token});
    if (const auto reason = seq.stop_reason()) {
      const auto out = seq.output_ids();
      finished.push_back({seq.id, std::vector<int32_t>(out.begin(), out.end()), *reason});
      ++stats_.num_finished;
      retire(seq);
    }
  }
  outstanding_.pop_front();
  return finished;
}

std::optional<FinishedSequence> Scheduler::abort(SeqId id) {
  auto it = sequences_.find(id);
  if (it == sequences_.end()) return std::nullopt;
  const auto out = it->second.output_ids();
  FinishedSequence f{id, std::vector<int32_t>(out.begin(), out.end()), SequenceFinishReason::Abort};
  ++stats_.num_aborted;
  retire(it->second);
  return f;
}

void Scheduler::retire(Sequence& seq) {
  const SeqId id = seq.id;
  waiting_.erase(seq.queue_key());
  running_.erase(seq.queue_key());
  pool_.free(id);
  finished_since_plan_.push_back(id);
  sequences_.erase(id);  // seq dangles from here
}

}  // namespace troupe
