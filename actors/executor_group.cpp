#include "actors/executor_group.h"

#include <algorithm>

#include <caf/all.hpp>

#include "actors/executor_actor.h"
#include "actors/pipeline_stage_actor.h"

namespace troupe {

int32_t ExecutorGroup::index_of(const caf::actor_addr& who) const {
  for (size_t i = 0; i < members.size(); ++i)
    if (members[i].address() == who) return static_cast<int32_t>(i);
  return -1;
}

bool ExecutorGroup::all_down() const { return std::all_of(down.begin(), down.end(), [](bool d) { return d; }); }

ExecutorGroup spawn_executor_group(caf::event_based_actor* self, const std::vector<std::shared_ptr<ModelBackend>>& stages) {
  ExecutorGroup g;
  // Monitored, not linked to the supervisor: an executor that dies with exit_reason::kill would
  // take a linked supervisor with it (kill cannot be trapped); a down message always arrives.
  if (stages.size() == 1) {
    g.members.push_back(self->spawn<caf::monitored + caf::detached>(executor_actor, stages.front()));
  } else {
    // Last stage first: each stage is spawned knowing the one after it.
    g.members.resize(stages.size());
    caf::actor next;
    for (size_t i = stages.size(); i-- > 0;) {
      next = self->spawn<caf::monitored + caf::detached>(pipeline_stage_actor, stages[i], next,
                                                         std::shared_ptr<StageClock>{});
      g.members[i] = next;
    }
  }
  g.down.assign(g.members.size(), false);
  return g;
}

void kill_executor_group(caf::event_based_actor* self, const ExecutorGroup& group, caf::error reason) {
  for (size_t i = 0; i < group.members.size(); ++i)
    if (!group.down[i]) self->send_exit(group.members[i], reason);
}

}  // namespace troupe
