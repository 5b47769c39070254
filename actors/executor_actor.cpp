#include "actors/executor_actor.h"

#include <caf/all.hpp>

#include "actors/message_inspect.h"

namespace troupe {

caf::behavior executor_actor(caf::stateful_actor<ExecutorState>* self, std::shared_ptr<CpuModel> model) {
  self->state.model = std::move(model);
  return {
      [=](init_atom, const KvPoolShape& shape) -> caf::result<bool> {
        if (shape.num_blocks <= 0 || shape.block_size <= 0)
          return caf::make_error(caf::sec::invalid_argument, "KV pool needs positive num_blocks and block_size");
        self->state.runner = std::make_unique<StepRunner>(*self->state.model, shape.num_blocks, shape.block_size);
        return true;
      },
      [=](step_atom, const StepPlan& plan) -> caf::result<StepResult> {
        if (!self->state.runner) return caf::make_error(caf::sec::invalid_argument, "step before init");
        try {
          return StepResult{plan.step_id, self->state.runner->run(plan)};
        } catch (const std::exception& e) {
          return caf::make_error(caf::sec::runtime_error, std::string("executor step failed: ") + e.what());
        }
      },
  };
}

}  // namespace troupe
