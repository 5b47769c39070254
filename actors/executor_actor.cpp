#include "actors/executor_actor.h"

#include <caf/all.hpp>

#include "actors/message_inspect.h"

namespace troupe {

caf::behavior executor_actor(caf::stateful_actor<ExecutorState>* self, std::shared_ptr<ModelBackend> backend) {
  self->state.backend = std::move(backend);
  return {
      [=](init_atom, const KvPoolShape& shape) -> caf::result<bool> {
        if (shape.num_blocks <= 0 || shape.block_size <= 0)
          return caf::make_error(caf::sec::invalid_argument, "KV pool needs positive num_blocks and block_size");
        self->state.runner.reset();  // the old pool goes before the new one is made
        try {
          self->state.runner = std::make_unique<StepRunner>(*self->state.backend, shape.num_blocks, shape.block_size);
        } catch (const std::exception& e) {
          return caf::make_error(caf::sec::invalid_argument, std::string("executor cannot make its KV pool: ") + e.what());
        }
        return true;
      },
      [=](step_atom, const StepPlan& plan) -> caf::result<StepResult> {
        if (!self->state.runner) return caf::make_error(caf::sec::invalid_argument, "step before init");
        try {
          SampledTokens out = self->state.runner->run(plan);
          return StepResult{plan.step_id, std::move(out.tokens), std::move(out.logprobs)};
        } catch (const std::exception& e) {
          return caf::make_error(caf::sec::runtime_error, std::string("executor step failed: ") + e.what());
        }
      },
  };
}

}  // namespace troupe
