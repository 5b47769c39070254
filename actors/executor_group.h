#pragma once
// ExecutorGroup: the executor a scheduler drives, as its supervisor holds it — one executor actor,
// or the stage executors of a pipeline-parallel model (pipeline_stage_actor.h), spawned together
// and restarted together. The scheduler sends everything to the head (the executor, or stage 0)
// and monitors only it; the stages are linked, so a dead stage takes the head with it.
//
// The supervisor monitors every member and spawns the next group only once every member of the
// old one is down: a stage still finishing a step on its thread must not find a new stage
// resetting the KV pool of the backend they share.
#include <cstdint>
#include <memory>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "engine/runtime/model_backend.h"

namespace troupe {

struct ExecutorGroup {
  std::vector<caf::actor> members;  // [stages] in pipeline order; empty: none
  std::vector<bool> down;           // [stages]: its down message has come

  caf::actor head() const { return members.empty() ? caf::actor{} : members.front(); }
  // The member's index, or -1.
  int32_t index_of(const caf::actor_addr& who) const;
  bool all_down() const;
};

// Spawns a group over `stages` (one backend: a plain executor_actor; several: one pipeline stage
// each, in order, their layer ranges tiling the model), each member detached and monitored by
// `self`.
ExecutorGroup spawn_executor_group(caf::event_based_actor* self, const std::vector<std::shared_ptr<ModelBackend>>& stages);

// Ends every member still up (kill: the group's state is gone either way).
void kill_executor_group(caf::event_based_actor* self, const ExecutorGroup& group, caf::error reason);

}  // namespace troupe
