#include "actors/batch_client.h"

#include <caf/all.hpp>

#include "actors/message_inspect.h"

namespace troupe {

void run_batch(caf::actor_system& sys, const caf::actor& scheduler, std::vector<GenerationRequest> requests,
               const std::function<void(const FinishedSequence&)>& on_finished,
               const std::function<void(SeqId, const std::string&)>& on_rejected) {
  caf::scoped_actor self{sys};
  size_t pending = 0;
  for (GenerationRequest& r : requests) {
    const SeqId id = r.id;
    self->request(scheduler, caf::infinite, submit_atom::value, std::move(r))
        .receive([&](bool) { ++pending; },
                 [&](caf::error& err) { on_rejected(id, sys.render(err)); });
  }
  while (pending > 0) {
    self->receive([](const TokenDeltas&) {},  // offline callers want whole sequences
                  [&](const FinishedBatch& batch) {
                    for (const FinishedSequence& f : batch.sequences) {
                      on_finished(f);
                      --pending;
                    }
                  });
  }
}

}  // namespace troupe
