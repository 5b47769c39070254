#pragma once
// FaultInjectingBackend: one executor's backend with a FaultPlan's faults (fault_plan.h) applied
// before each of its steps: a crash ends the process through `crash` (the CLI raises SIGKILL, so
// it is a kill -9 as far as anyone can tell), a device error throws what a failed CUDA call would
// (DeviceContextLost when sticky: through `poison` when given — on a GPU it poisons the real
// context — else thrown here), a delay sleeps. For tests and drills only.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "engine/runtime/fault_plan.h"
#include "engine/runtime/forwarding_backend.h"

namespace troupe {

class FaultInjectingBackend : public ForwardingBackend {
 public:
  using Crash = std::function<void(const std::string& why)>;  // must not return
  using Poison = std::function<void()>;                         // throws DeviceContextLost
  FaultInjectingBackend(std::shared_ptr<ModelBackend> inner, std::shared_ptr<FaultInjector> injector, int32_t stage,
                        int32_t rank, Crash crash, Poison poison = {});

  SampledTokens run(const ForwardBatch& batch, std::span<const SamplingRow> rows) override;
  std::vector<float> logits(const ForwardBatch& batch) override;
  std::vector<float> forward_hidden(const ForwardBatch& batch) override;
  void launch(const ForwardBatch& batch, std::span<const SamplingRow> rows,
              std::span<const DeferredToken> deferred) override;

 private:
  void strike();  // what the injector says this step suffers

  std::shared_ptr<FaultInjector> injector_;
  int32_t stage_, rank_;
  Crash crash_;
  Poison poison_;
};

}  // namespace troupe
