#include "actors/scheduler_actor.h"

#include <map>

#include <caf/all.hpp>

#include "actors/message_inspect.h"

namespace troupe {
namespace {

using Self = caf::stateful_actor<SchedulerActorState>;

// Groups a step's tokens and finished sequences by client: one message of each kind per client.
void fan_out(Self* self, const StepPlan& plan, const std::vector<int32_t>& sampled,
             std::vector<FinishedSequence> finished) {
  auto& st = self->state;
  std::map<caf::actor, TokenDeltas> deltas;
  size_t i = 0;
  for (const ScheduledSequence& s : plan.sequences) {
    if (!s.wants_logits) continue;
    const int32_t token = sampled[i++];
    auto it = st.clients.find(s.seq_id);
    if (it == st.clients.end()) continue;  // aborted while the step ran
    TokenDeltas& d = deltas[it->second];
    d.seq_ids.push_back(s.seq_id);
    d.tokens.push_back(token);
  }
  for (auto& [client, d] : deltas) self->send(client, std::move(d));
  std::map<caf::actor, FinishedBatch> done;
  for (FinishedSequence& f : finished) {
    auto it = st.clients.find(f.id);
    if (it == st.clients.end()) continue;
    done[it->second].sequences.push_back(std::move(f));
    st.clients.erase(it);
  }
  for (auto& [client, batch] : done) self->send(client, std::move(batch));
}

// Sends the next plan if the executor is idle and there is anything to tell it.
void kick(Self* self) {
  auto& st = self->state;
  if (!st.kv_ready || st.step_in_flight) return;
  StepPlan plan = st.scheduler->schedule();
  if (plan.empty() && plan.finished_seq_ids.empty() && plan.preempted_seq_ids.empty()) return;
  st.step_in_flight = true;
  self->request(st.executor, caf::infinite, step_atom::value, plan)
      .then(
          [=](const StepResult& r) {
            self->state.step_in_flight = false;
            if (!plan.empty()) fan_out(self, plan, r.sampled, self->state.scheduler->update(plan, r.sampled));
            kick(self);
          },
          [=](caf::error& err) {
            // The executor failed this step. Until the supervisor restarts executors (issue #3,
            // fault tolerance), the honest answer is to end every live request with an abort.
            self->state.step_in_flight = false;
            caf::aout(self) << "executor error: " << self->system().render(err) << std::endl;
            std::vector<FinishedSequence> all;
            std::vector<SeqId> ids;
            for (auto& [id, _] : self->state.clients) ids.push_back(id);
            for (SeqId id : ids)
              if (auto f = self->state.scheduler->abort(id)) all.push_back(std::move(*f));
            fan_out(self, StepPlan{}, {}, std::move(all));
          });
}

}  // namespace

caf::behavior scheduler_actor(Self* self, SchedulerConfig config, caf::actor executor) {
  auto& st = self->state;
  st.scheduler = std::make_unique<Scheduler>(config);
  st.executor = executor;
  self->request(executor, caf::infinite, init_atom::value, KvPoolShape{config.num_blocks, config.block_size})
      .then(
          [=](bool) {
            self->state.kv_ready = true;
            kick(self);
          },
          [=](caf::error& err) {
            caf::aout(self) << "executor could not allocate the KV pool: " << self->system().render(err) << std::endl;
            self->quit(err);
          });
  return {
      [=](submit_atom, GenerationRequest& req) -> caf::result<bool> {
        auto& s = self->state;
        if (std::string why = s.scheduler->check_request(req); !why.empty())
          return caf::make_error(caf::sec::invalid_argument, why);
        s.clients[req.id] = caf::actor_cast<caf::actor>(self->current_sender());
        s.scheduler->add_request(std::move(req));
        kick(self);
        return true;
      },
      [=](abort_atom, SeqId id) {
        auto& s = self->state;
        if (auto f = s.scheduler->abort(id)) fan_out(self, StepPlan{}, {}, {std::move(*f)});
        kick(self);
      },
      [=](snapshot_atom) {
        const auto& s = *self->state.scheduler;
        return SchedulerSnapshot{s.num_running(), s.num_waiting(), s.block_pool().num_free_blocks(),
                                 s.config().num_blocks, s.stats().num_cached_tokens,
                                 s.stats().num_preemptions, s.stats().num_steps};
      },
  };
}

}  // namespace troupe
