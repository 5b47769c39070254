#include "actors/scheduler_actor.h"

#include <map>
#include <unordered_map>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/message_inspect.h"
#include "actors/troupe_error.h"

namespace troupe {
namespace {

using Self = caf::stateful_actor<SchedulerActorState>;

// Where each sequence that asked for logprobs finds them in its plan's StepResult: its row of
// `logprobs` (a sequence has at most one entry per plan, so its id names its row) and its entry
// of `prompt_logprobs`. Taken before the plan leaves (it moves into the message) and empty unless
// a sequence asked, so most steps keep nothing.
struct LogprobRows {
  std::unordered_map<SeqId, uint32_t> sampled;     // seq -> row of StepResult::logprobs
  std::vector<std::pair<SeqId, uint32_t>> prompt;  // (seq, entry of StepResult::prompt_logprobs)
};

LogprobRows logprob_rows(const StepPlan& plan) {
  LogprobRows rows;
  uint32_t row = 0;
  for (uint32_t i = 0; i < plan.sequences.size(); ++i) {
    const ScheduledSequence& e = plan.sequences[i];
    if (e.num_prompt_logprobs > 0) rows.prompt.emplace_back(e.seq_id, i);
    if (!e.wants_logits) continue;
    if (e.sampling_params.logprobs >= 0) rows.sampled.emplace(e.seq_id, row);
    ++row;
  }
  return rows;
}

// Groups a step's accepted tokens and finished sequences by client: one message of each kind per
// client. Only the scheduler knows which sampled tokens count (a sequence that finished in the
// step before, or was aborted, may have had one sampled anyway), so only accepted ones go out,
// each with its own logprobs when its sequence asked (`rows` into the result `r`), after the prompt
// tokens the step scored for it. (A recomputed prompt is scored again: the gateway keeps one per
// position.)
void fan_out(Self* self, const std::vector<SampledToken>& tokens, std::vector<FinishedSequence> finished,
             const LogprobRows& rows = {}, StepResult* r = nullptr) {
  auto& st = self->state;
  std::map<caf::actor, TokenDeltas> deltas;
  for (const auto& [seq_id, entry] : rows.prompt) {
    auto it = st.clients.find(seq_id);
    // An executor that cannot score prompts (or an older remote one) answers none.
    if (it == st.clients.end() || entry >= r->prompt_logprobs.size() || r->prompt_logprobs[entry].tokens.empty()) continue;
    TokenDeltas& d = deltas[it->second];
    d.prompt_seq_ids.push_back(seq_id);
    d.prompt_logprobs.push_back(std::move(r->prompt_logprobs[entry]));
  }
  for (const SampledToken& t : tokens) {
    auto it = st.clients.find(t.seq_id);
    if (it == st.clients.end()) continue;
    TokenDeltas& d = deltas[it->second];
    d.seq_ids.push_back(t.seq_id);
    d.tokens.push_back(t.token);
    if (rows.sampled.empty()) continue;
    // An older remote executor may not return logprobs at all: then there are none to attach.
    if (auto row = rows.sampled.find(t.seq_id); row != rows.sampled.end() && row->second < r->logprobs.size()) {
      d.logprobs.resize(d.tokens.size());  // parallel to tokens from the first one that asked
      d.logprobs.back() = std::move(r->logprobs[row->second]);
    } else if (!d.logprobs.empty()) {
      d.logprobs.emplace_back();
    }
  }
  for (auto& [client, d] : deltas) self->send(client, std::move(d));
  std::map<caf::actor, FinishedBatch> done;
  for (FinishedSequence& f : finished) {
    st.submitted.erase(f.id);
    auto it = st.clients.find(f.id);
    if (it == st.clients.end()) continue;
    done[it->second].sequences.push_back(std::move(f));
    st.clients.erase(it);
  }
  for (auto& [client, batch] : done) self->send(client, std::move(batch));
}

void kick(Self* self);
void send_plan(Self* self, StepPlan plan);
void record_metrics(Self* self, const StepPlan* plan);

// The pool's changes since the last journal, one message (never awaited) to the kv_manager: after
// each applied step, once the next plan has left, so the mirror is never on the step's path.
void send_journal(Self* self, uint64_t step_id) {
  auto& st = self->state;
  if (!st.kv_manager) return;
  PoolJournal journal = st.scheduler->take_pool_journal();
  journal.step_id = step_id;
  // Tagged with the replica: one kv_manager mirrors every data-parallel replica's pool.
  self->send(st.kv_manager, replica_atom::value, st.scheduler->config().replica, std::move(journal));
}

void abort_all(Self* self) {
  auto& st = self->state;
  std::vector<SeqId> ids;
  for (auto& [id, _] : st.clients) ids.push_back(id);
  std::vector<FinishedSequence> all;
  for (SeqId id : ids)
    if (auto f = st.scheduler->abort(id)) all.push_back(std::move(*f));
  fan_out(self, {}, std::move(all));
}

// The executor's KV cache is gone (it died, or failed a step and is being replaced): everything
// running is recomputed on the next executor.
void executor_lost(Self* self, const caf::error& why) {
  auto& st = self->state;
  if (!st.executor) return;  // already handled (the failed step and the down message both come)
  spdlog::warn("scheduler: executor lost ({}); {} running sequences will be recomputed", self->system().render(why),
               st.scheduler->num_running());
  st.scheduler->reset_executor_state();
  st.kv_ready = false;
  st.plans_in_flight = 0;
  ++st.executor_generation;
  if (st.supervised) {
    // A failed step from a live executor leaves its state unknown: end it; the supervisor
    // restarts it like any other death.
    self->send_exit(st.executor, caf::exit_reason::kill);
    st.executor = caf::actor{};
  } else {
    st.executor = caf::actor{};
    abort_all(self);
  }
}

void use_executor(Self* self, caf::actor executor) {
  auto& st = self->state;
  st.executor = executor;
  self->monitor(executor);
  const uint64_t generation = st.executor_generation;
  const SchedulerConfig& c = st.scheduler->config();
  self->request(executor, caf::infinite, init_atom::value, KvPoolShape{c.num_blocks, c.block_size})
      .then(
          [=](bool) {
            if (generation != self->state.executor_generation) return;
            self->state.kv_ready = true;
            kick(self);
          },
          [=](caf::error& err) {
            if (generation == self->state.executor_generation) executor_lost(self, err);
          });
}

// Gauges after every change of state; queue time when a sequence is first scheduled.
void record_metrics(Self* self, const StepPlan* plan) {
  auto& st = self->state;
  if (!st.metrics) return;
  ServerMetrics& m = *st.metrics;
  const Scheduler& s = *st.scheduler;
  ReplicaMetrics& r = m.replica(s.config().replica);
  r.num_requests_running.store(s.num_running());
  r.num_requests_waiting.store(s.num_waiting());
  r.kv_blocks_total.store(s.config().num_blocks);
  r.kv_blocks_used.store(s.config().num_blocks - s.block_pool().num_free_blocks());
  m.sum_replica_gauges();
  if (plan == nullptr) return;
  m.prefix_cache_hit_tokens.fetch_add(static_cast<uint64_t>(plan->num_cached_tokens));
  r.prefix_cache_hit_tokens.fetch_add(static_cast<uint64_t>(plan->num_cached_tokens));
  m.preemptions.fetch_add(plan->preempted_seq_ids.size());
  if (plan->num_batched_tokens > 0) m.iteration_tokens.observe(plan->num_batched_tokens);
  const auto now = std::chrono::steady_clock::now();
  for (const ScheduledSequence& e : plan->sequences) {
    // An admission looks its tokens up in the prefix cache (vLLM counts a request's tokens per
    // lookup), unless it asked for prompt logprobs: then it reads nothing there and is not counted.
    if (e.is_new && s.config().enable_prefix_caching && e.sampling_params.prompt_logprobs < 0) {
      m.prefix_cache_query_tokens.fetch_add(e.prompt_token_ids.size() + e.output_token_ids.size());
      r.prefix_cache_query_tokens.fetch_add(e.prompt_token_ids.size() + e.output_token_ids.size());
    }
    auto it = st.submitted.find(e.seq_id);
    if (it == st.submitted.end()) continue;
    m.request_queue_time.observe(std::chrono::duration<double>(now - it->second).count());
    st.submitted.erase(it);
  }
}

// Keeps the executor's mailbox full: sends plans until as many are in flight as the scheduler may
// have outstanding (two when it plans ahead, so step N+1 waits behind step N and the executor
// never waits for us), or until there is nothing to tell it.
void kick(Self* self) {
  auto& st = self->state;
  bool planned = false;
  while (st.kv_ready && st.plans_in_flight < st.scheduler->max_outstanding_plans()) {
    StepPlan plan = st.scheduler->schedule();
    record_metrics(self, &plan);
    planned = true;
    if (plan.empty() && plan.finished_seq_ids.empty() && plan.preempted_seq_ids.empty()) break;
    send_plan(self, std::move(plan));
  }
  if (!planned) record_metrics(self, nullptr);
}

void send_plan(Self* self, StepPlan plan) {
  auto& st = self->state;
  ++st.plans_in_flight;
  const uint64_t generation = st.executor_generation;
  // update() needs only the plan's id (the scheduler kept what it planned), so the plan itself
  // moves into the message uncopied.
  const uint64_t step_id = plan.step_id;
  const bool outstanding = !plan.empty();
  const LogprobRows rows = logprob_rows(plan);
  // The executor answers in the order it was asked (CAF keeps one sender's messages in order), so
  // results arrive oldest first, as update() requires.
  self->request(st.executor, caf::infinite, step_atom::value, std::move(plan))
      .then(
          [=](StepResult& r) {
            auto& s = self->state;
            if (generation != s.executor_generation) return;  // the plan was discarded
            --s.plans_in_flight;
            if (outstanding) {
              std::vector<SampledToken> accepted;
              auto finished = s.scheduler->update(step_id, r.sampled, &accepted);
              record_metrics(self, nullptr);  // before clients hear of it, so a scrape after sees it
              fan_out(self, accepted, std::move(finished), rows, &r);
            }
            kick(self);
            if (outstanding) send_journal(self, step_id);  // one per step
          },
          [=](caf::error& err) {
            if (generation == self->state.executor_generation) executor_lost(self, err);
          });
}

}  // namespace

caf::behavior scheduler_actor(Self* self, SchedulerConfig config, caf::actor executor, bool supervised,
                              std::shared_ptr<ServerMetrics> metrics) {
  auto& st = self->state;
  st.scheduler = std::make_unique<Scheduler>(config);
  st.supervised = supervised;
  st.metrics = std::move(metrics);
  self->set_down_handler([=](const caf::down_msg& down) {
    if (self->state.executor && down.source == self->state.executor.address()) executor_lost(self, down.reason);
  });
  if (executor) use_executor(self, executor);  // a supervisor still reconnecting one sends it later
  return {
      [=](executor_atom, caf::actor replacement) {
        auto& s = self->state;
        if (!replacement) return abort_all(self);  // the supervisor's restart budget is spent
        if (s.executor == replacement) return;
        if (s.executor) executor_lost(self, caf::make_error(troupe_error::executor_replaced, "replaced"));
        use_executor(self, replacement);
      },
      [=](kv_manager_atom, caf::actor kv) {
        auto& s = self->state;
        if (s.kv_manager || !kv) return;
        // The mirror starts from an empty pool, so journal 1 must hold every change there was.
        try {
          s.scheduler->start_pool_journal();
        } catch (const std::logic_error&) {
          return spdlog::error("scheduler: a kv_manager came after the block pool changed; it gets no journals");
        }
        s.kv_manager = std::move(kv);
      },
      [=](submit_atom, GenerationRequest& req) -> caf::result<bool> {
        auto& s = self->state;
        if (std::string why = s.scheduler->check_request(req); !why.empty())
          return caf::make_error(troupe_error::invalid_request, why);
        s.clients[req.id] = caf::actor_cast<caf::actor>(self->current_sender());
        if (s.metrics) s.submitted[req.id] = std::chrono::steady_clock::now();
        s.scheduler->add_request(std::move(req));
        kick(self);
        return true;
      },
      [=](abort_atom, SeqId id) {
        auto& s = self->state;
        if (auto f = s.scheduler->abort(id)) fan_out(self, {}, {std::move(*f)});
        kick(self);
        // Idle, no step will carry the frees to the mirror.
        if (s.plans_in_flight == 0 && s.scheduler->block_pool().has_journal_ops()) send_journal(self, 0);
      },
      [=](snapshot_atom) {
        const auto& s = *self->state.scheduler;
        return SchedulerSnapshot{s.num_running(), s.num_waiting(), s.block_pool().num_free_blocks(),
                                 s.config().num_blocks, s.stats().num_cached_tokens,
                                 s.stats().num_preemptions, s.stats().num_steps, s.stats().num_executor_resets,
                                 self->state.plans_in_flight, s.block_pool().num_cached_blocks()};
      },
  };
}

}  // namespace troupe
