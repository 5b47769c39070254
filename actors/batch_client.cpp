#include "actors/batch_client.h"

#include <map>

#include <caf/all.hpp>

#include "actors/message_inspect.h"
#include "engine/scheduler/arrival_counter.h"
#include "engine/scheduler/resubmission.h"

namespace troupe {
namespace {

// `supervisor` may be null: then a scheduler that dies leaves the batch waiting forever.
void run_batch_on(caf::actor_system& sys, caf::actor scheduler, const caf::actor& supervisor,
                  std::vector<GenerationRequest> requests,
                  const std::function<void(const FinishedSequence&)>& on_finished,
                  const std::function<void(SeqId, const std::string&)>& on_rejected) {
  caf::scoped_actor self{sys};
  // Accepted, not finished: what a new scheduler gets. No tokens are recorded (offline callers
  // want whole sequences, reported at the end), so a resubmission starts its request over, in its
  // first place in the queue.
  struct Pending {
    GenerationRequest request;
    InFlight in_flight;
  };
  std::map<SeqId, Pending> pending;
  // A scheduler that died before it answered leaves the request pending for the next one.
  auto submit = [&](const Pending& p) {
    const SeqId id = p.request.id;
    self->request(scheduler, caf::infinite, submit_atom::value, p.in_flight.resubmission(p.request))
        .receive([](bool) {},
                 [&](caf::error& err) {
                   if (err == caf::sec::request_receiver_down) return;
                   on_rejected(id, sys.render(err));
                   pending.erase(id);
                 });
  };
  ArrivalCounter arrivals;  // the batch's order, kept on resubmission
  for (GenerationRequest& r : requests) {
    const SeqId id = r.id;
    // A caller's own output tokens (a request continued) are kept, as a gateway's received ones are.
    InFlight in_flight{arrivals.number(r.arrival), r.output_token_ids};
    submit(pending.emplace(id, Pending{std::move(r), std::move(in_flight)}).first->second);
  }
  if (supervisor) self->send(supervisor, gateway_atom::value, caf::actor_cast<caf::actor>(self));
  while (!pending.empty()) {
    self->receive([](const TokenDeltas&) {},  // offline callers want whole sequences
                  [&](const FinishedBatch& batch) {
                    if (self->current_sender() != caf::actor_cast<caf::strong_actor_ptr>(scheduler)) return;
                    for (const FinishedSequence& f : batch.sequences) {
                      on_finished(f);
                      pending.erase(f.id);
                    }
                  },
                  [&](scheduler_atom, int32_t /*replica*/, const caf::actor& next) {
                    if (next == scheduler) return;
                    scheduler = next;
                    std::vector<SeqId> ids;
                    for (const auto& [id, r] : pending) ids.push_back(id);
                    for (SeqId id : ids) {
                      if (!scheduler) on_finished(FinishedSequence{id, {}, SequenceFinishReason::Abort});
                      else submit(pending.at(id));
                    }
                    if (!scheduler) pending.clear();
                  });
  }
}

}  // namespace

void run_batch(caf::actor_system& sys, const caf::actor& scheduler, std::vector<GenerationRequest> requests,
               const std::function<void(const FinishedSequence&)>& on_finished,
               const std::function<void(SeqId, const std::string&)>& on_rejected) {
  run_batch_on(sys, scheduler, caf::actor{}, std::move(requests), on_finished, on_rejected);
}

void run_batch(caf::actor_system& sys, const EngineActors& engine, std::vector<GenerationRequest> requests,
               const std::function<void(const FinishedSequence&)>& on_finished,
               const std::function<void(SeqId, const std::string&)>& on_rejected) {
  run_batch_on(sys, engine.scheduler, engine.supervisor, std::move(requests), on_finished, on_rejected);
}

}  // namespace troupe
