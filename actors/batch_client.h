#pragma once
// Submitting a batch of requests and waiting for them, from a thread that is not an actor
// (troupe generate --prompts-file, tests). Every request goes into the scheduler before the first
// result is awaited, so they are batched together.
#include <functional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/engine_topology.h"
#include "engine/scheduler/finished_sequence.h"
#include "engine/scheduler/generation_request.h"

namespace troupe {

// Calls on_finished for each sequence as it finishes (stop, length or abort) and returns once all
// have. A request the scheduler refuses is reported through on_rejected with the reason.
void run_batch(caf::actor_system& sys, const caf::actor& scheduler, std::vector<GenerationRequest> requests,
               const std::function<void(const FinishedSequence&)>& on_finished,
               const std::function<void(SeqId, const std::string&)>& on_rejected);

// The same through an engine's supervisor, which names every restarted scheduler: the requests
// not finished yet are submitted to it again, whole and in their first order (nothing of them has
// been reported, so there is nothing to continue from). Past its restart budget they finish with
// reason abort and no tokens.
void run_batch(caf::actor_system& sys, const EngineActors& engine, std::vector<GenerationRequest> requests,
               const std::function<void(const FinishedSequence&)>& on_finished,
               const std::function<void(SeqId, const std::string&)>& on_rejected);

}  // namespace troupe
