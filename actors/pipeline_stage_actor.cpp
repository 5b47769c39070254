#include "actors/pipeline_stage_actor.h"

#include <chrono>
#include <string>

#include <caf/all.hpp>

#include "actors/message_inspect.h"
#include "actors/troupe_error.h"
#include "engine/runtime/pipeline_stage.h"

namespace troupe {
namespace {

using Self = caf::stateful_actor<PipelineStageState>;

caf::error stage_failed(Self* self, const std::string& why) {
  const LayerRange r = self->state.backend->layers();
  return caf::make_error(troupe_error::step_failed, "pipeline stage [" + std::to_string(r.begin) + ", " +
                                                       std::to_string(r.end) + ") step failed: " + why);
}

// The plan over this stage's layers: the last stage samples and answers; an earlier one hands the
// request on, with its hidden states, to the next.
caf::result<StepResult> run_step(Self* self, StepPlan& plan, HiddenStates in) {
  auto& st = self->state;
  if (!st.kv_ready) return caf::make_error(troupe_error::executor_refused, "step before init");
  // Counted when this stage's share is done, however it ends.
  struct Count {
    StageClock* clock;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    ~Count() {
      if (!clock) return;
      clock->steps.fetch_add(1);
      clock->busy_us.fetch_add(std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count());
    }
  } count{st.clock.get()};
  try {
    std::vector<float> input;
    if (!is_first_stage(st.backend->layers()))
      input = take_stage_input(st.backend->config(), st.backend->layers(), plan, std::move(in));
    if (!st.next) {
      return step_result(plan.step_id, st.runner->run(plan, std::move(input)));
    }
    HiddenStates hidden = run_stage_step(*st.backend, st.tables, plan, std::move(input));
    auto promise = self->make_response_promise();
    promise.delegate(st.next, stage_step_atom::value, std::move(plan), std::move(hidden));
    return promise;
  } catch (const std::exception& e) {
    return stage_failed(self, e.what());
  }
}

}  // namespace

caf::behavior pipeline_stage_actor(Self* self, std::shared_ptr<ModelBackend> backend, caf::actor next,
                                   std::shared_ptr<StageClock> clock) {
  self->state.backend = std::move(backend);
  self->state.clock = std::move(clock);
  self->state.next = next;
  // A dead stage ends the group (CAF links carry exit reasons both ways): no plan can pass it.
  if (next) self->link_to(next);
  return {
      [=](init_atom, const KvPoolShape& shape) -> caf::result<bool> {
        auto& st = self->state;
        if (shape.num_blocks <= 0 || shape.block_size <= 0)
          return caf::make_error(troupe_error::executor_refused, "KV pool needs positive num_blocks and block_size");
        st.kv_ready = false;
        st.runner.reset();  // the old pool goes before the new one is made
        st.tables.clear();  // what it held died with the old pool: the next plans are all is_new
        try {
          if (st.next) st.backend->allocate_kv_cache(shape.num_blocks, shape.block_size);
          else st.runner = std::make_unique<StepRunner>(*st.backend, shape.num_blocks, shape.block_size);
        } catch (const std::exception& e) {
          return caf::make_error(troupe_error::executor_refused, std::string("pipeline stage cannot make its KV pool: ") + e.what());
        }
        st.kv_ready = true;
        if (!st.next) return true;
        auto promise = self->make_response_promise();
        promise.delegate(st.next, init_atom::value, shape);
        return promise;
      },
      [=](step_atom, StepPlan& plan) -> caf::result<StepResult> {
        if (!is_first_stage(self->state.backend->layers()))
          return caf::make_error(troupe_error::executor_refused, "a step sent to a pipeline stage other than the first");
        return run_step(self, plan, {});
      },
      [=](stage_step_atom, StepPlan& plan, HiddenStates& in) -> caf::result<StepResult> {
        return run_step(self, plan, std::move(in));
      },
      [=](next_stage_atom) { return self->state.next; },
  };
}

}  // namespace troupe
