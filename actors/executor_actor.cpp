#include "actors/executor_actor.h"

#include <caf/all.hpp>

#include "actors/message_inspect.h"
#include "actors/troupe_error.h"

namespace troupe {
namespace {

using Self = caf::stateful_actor<ExecutorState>*;
using Answer = caf::typed_response_promise<StepResult>;

caf::error step_failed(const std::string& why) {
  return caf::make_error(troupe_error::step_failed, "executor step failed: " + why);
}

// Every answer still owed fails with `why` (the runner's pending steps will never be collected).
void fail_pending(Self self, const std::string& why) {
  for (Answer& a : self->state.answers) a.deliver(step_failed(why));
  self->state.answers.clear();
}

// Collects the oldest pending step and answers it. A failure breaks the pipeline: the steps
// launched behind it fail too (their deferred tokens came from it).
void collect_oldest(Self self) {
  auto& st = self->state;
  const uint64_t step_id = *st.runner->oldest_pending_step();
  Answer answer = std::move(st.answers.front());
  st.answers.pop_front();
  try {
    answer.deliver(step_result(step_id, st.runner->collect()));
  } catch (const std::exception& e) {
    answer.deliver(step_failed(e.what()));
    st.broken = "step " + std::to_string(step_id) + " before it failed: " + e.what();
    fail_pending(self, st.broken);
  }
}

void arm_poll(Self self, uint64_t step_id) {
  self->delayed_send(self, kPollInterval, step_poll_atom::value, step_id);
}

// Launches `plan`, owing `answer` its result; a launch that throws answers at once.
void launch(Self self, const StepPlan& plan, Answer answer) {
  auto& st = self->state;
  try {
    st.runner->launch(plan);
  } catch (const std::exception& e) {
    answer.deliver(step_failed(e.what()));
    return;
  }
  st.answers.push_back(std::move(answer));
  arm_poll(self, plan.step_id);
}

// Plan N+1 while step N may be pending: launch it first when the runner allows it, so the
// device never waits for this thread between the two; else finish N first.
Answer pipelined_step(Self self, const StepPlan& plan) {
  auto& st = self->state;
  Answer answer = self->make_response_promise<StepResult>();
  if (!st.broken.empty()) {
    answer.deliver(step_failed(st.broken));
  } else if (st.runner->num_pending() == 0) {
    launch(self, plan, answer);
  } else if (st.runner->can_launch_ahead(plan)) {
    launch(self, plan, answer);  // a failure here is N+1's alone: N is still collected below
    collect_oldest(self);
  } else {
    collect_oldest(self);
    if (st.broken.empty()) launch(self, plan, answer);
    else answer.deliver(step_failed(st.broken));
  }
  return answer;
}

}  // namespace

caf::behavior executor_actor(Self self, std::shared_ptr<ModelBackend> backend) {
  self->state.backend = std::move(backend);
  return {
      [=](init_atom, const KvPoolShape& shape) -> caf::result<bool> {
        if (shape.num_blocks <= 0 || shape.block_size <= 0)
          return caf::make_error(troupe_error::executor_refused, "KV pool needs positive num_blocks and block_size");
        auto& st = self->state;
        fail_pending(self, "the executor was initialized again");
        st.broken.clear();
        st.runner.reset();  // the old pool goes before the new one is made
        try {
          st.runner = std::make_unique<StepRunner>(*st.backend, shape.num_blocks, shape.block_size);
        } catch (const std::exception& e) {
          return caf::make_error(troupe_error::executor_refused, std::string("executor cannot make its KV pool: ") + e.what());
        }
        return true;
      },
      [=](step_atom, const StepPlan& plan) -> caf::result<StepResult> {
        if (!self->state.runner) return caf::make_error(troupe_error::executor_refused, "step before init");
        if (self->state.backend->pipelines()) return pipelined_step(self, plan);
        try {
          return step_result(plan.step_id, self->state.runner->run(plan));
        } catch (const std::exception& e) {
          return step_failed(e.what());
        }
      },
      // What the gateway in another process may open to requests (serve --executor).
      [=](capabilities_atom) { return capabilities_of(*self->state.backend); },
      [=](step_poll_atom, uint64_t step_id) {
        auto& st = self->state;
        // Stale: that step was collected when the next plan came, failed, or the runner was replaced.
        if (!st.runner || !st.broken.empty() || st.runner->oldest_pending_step() != step_id) return;
        if (st.runner->ready()) collect_oldest(self);
        else arm_poll(self, step_id);
      },
  };
}

}  // namespace troupe
