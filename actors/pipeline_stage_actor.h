#pragma once
// pipeline_stage: one stage executor of a pipeline-parallel model (engine/runtime/pipeline_stage.h).
// Stage 0 takes what a plain executor takes from the scheduler — (init, KvPoolShape) and
// (step, StepPlan) — so the scheduler drives a pipeline exactly as it drives one executor. Each
// stage runs the plan over its layers and passes the request on to the next stage with its hidden
// states (CAF's delegate: the response promise travels along, so the answer never comes back
// through the earlier stages); the last stage holds the StepRunner (sampling state), samples and
// answers the scheduler itself. Stages pass work executor to executor, so with P plans in flight
// every stage works on a different one at once.
//
// Each stage is detached (its own thread: steps block) and linked to the next, so the death of any
// one ends the whole group; its supervisor restarts the group (executor_group.h) and the scheduler
// recomputes what was running, as for one executor. A step that fails on any stage answers the
// scheduler with that error, which it treats as a lost executor.
#include <atomic>
#include <cstdint>
#include <memory>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include "engine/runtime/model_backend.h"
#include "engine/runtime/step_runner.h"

namespace troupe {

// Steps a stage ran and the time they took, read by its node for the head's heartbeat (another
// thread, hence atomics).
struct StageClock {
  std::atomic<int64_t> steps{0};
  std::atomic<int64_t> busy_us{0};
};

struct PipelineStageState {
  std::shared_ptr<ModelBackend> backend;  // this stage's layers and KV cache; shared: a restarted
                                          // group reuses the weights
  caf::actor next;                        // the stage after this one; null on the last
  std::unique_ptr<StepRunner> runner;     // last stage only, made by init: sampling state (and
                                          // its own block tables)
  SequenceBlockTables tables;             // stages before the last: the block tables the plans'
                                          // diffs build; emptied by init, with the pool
  bool kv_ready = false;                  // init allocated this stage's pool
  std::shared_ptr<StageClock> clock;      // may be null
  static inline const char* name = "pipeline_stage";
};

// Messages: (init_atom, KvPoolShape) -> bool, answered by the last stage once every stage has its
// pool; (step_atom, StepPlan) -> StepResult, on stage 0; (stage_step_atom, StepPlan, HiddenStates)
// -> StepResult, from the stage before; (next_stage_atom) -> actor. `clock`, if any, counts its steps.
caf::behavior pipeline_stage_actor(caf::stateful_actor<PipelineStageState>* self, std::shared_ptr<ModelBackend> backend,
                                   caf::actor next, std::shared_ptr<StageClock> clock = nullptr);

}  // namespace troupe
