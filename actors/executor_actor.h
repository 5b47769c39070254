#pragma once
// executor: owns a model and its KV blocks, runs one StepPlan per message and answers with the
// sampled tokens. It does heavy, blocking work, so it is spawned detached (its own thread) and
// never holds up the actors that schedule and stream.
#include <memory>

#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include "engine/runtime/model_backend.h"
#include "engine/runtime/step_runner.h"

namespace troupe {

struct ExecutorState {
  std::shared_ptr<ModelBackend> backend;
  std::unique_ptr<StepRunner> runner;  // made by the first (init, KvPoolShape)
  static inline const char* name = "executor";
};

// Messages: (init_atom, KvPoolShape) -> bool; (step_atom, StepPlan) -> StepResult.
caf::behavior executor_actor(caf::stateful_actor<ExecutorState>* self, std::shared_ptr<ModelBackend> backend);

}  // namespace troupe
