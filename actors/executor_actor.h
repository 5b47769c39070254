#pragma once
// executor: owns a model and its KV blocks, runs one StepPlan per message and answers with the
// sampled tokens. It does heavy, blocking work, so it is spawned detached (its own thread) and
// never holds up the actors that schedule and stream.
//
// With a backend that pipelines, a step is launched when its plan arrives and answered later:
// when plan N+1 arrives while N runs, N+1 is launched first if the runner allows it
// (StepRunner::can_launch_ahead), then N is collected and answered, so the device finds N+1
// queued behind N; otherwise N is collected and answered first. A step that no next plan
// follows is answered by polling the backend (ready()) every kPollInterval. Other backends run
// each step to completion inside its message, as before.
#include <chrono>
#include <deque>
#include <memory>
#include <string>

#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "engine/runtime/model_backend.h"
#include "engine/runtime/step_runner.h"
#include "engine/scheduler/step_result.h"

namespace troupe {

struct ExecutorState {
  std::shared_ptr<ModelBackend> backend;
  std::unique_ptr<StepRunner> runner;  // made by the first (init, KvPoolShape)
  // Pipelining backends: the answer owed for each step the runner holds pending, oldest first.
  std::deque<caf::typed_response_promise<StepResult>> answers;
  // Set when collecting a step failed: the device's state and the runner's are unknown, so every
  // later step fails with it until the next init.
  std::string broken;
  static inline const char* name = "executor";
};

// How often a pending step that no next plan has followed is checked for completion: a fraction
// of a decode step (~10 ms on an H100), so the answer is late by at most that.
inline constexpr std::chrono::microseconds kPollInterval{50};

// Messages: (init_atom, KvPoolShape) -> bool; (step_atom, StepPlan) -> StepResult;
// (capabilities_atom) -> BackendCapabilities of its backend; and to itself (step_poll_atom,
// uint64_t step_id).
caf::behavior executor_actor(caf::stateful_actor<ExecutorState>* self, std::shared_ptr<ModelBackend> backend);

}  // namespace troupe
