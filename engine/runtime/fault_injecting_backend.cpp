#include "engine/runtime/fault_injecting_backend.h"

#include <stdexcept>
#include <thread>

#include <spdlog/spdlog.h>

#include "kernels/common/device_context_lost.h"

namespace troupe {

FaultInjectingBackend::FaultInjectingBackend(std::shared_ptr<ModelBackend> inner,
                                             std::shared_ptr<FaultInjector> injector, int32_t stage, int32_t rank,
                                             Crash crash, Poison poison)
    : ForwardingBackend(std::move(inner)), injector_(std::move(injector)), stage_(stage), rank_(rank),
      crash_(std::move(crash)), poison_(std::move(poison)) {}

void FaultInjectingBackend::strike() {
  const StepFault f = injector_->before_step(stage_, rank_, FaultInjector::Clock::now());
  switch (f.kind) {
    case StepFault::Kind::None:
      return;
    case StepFault::Kind::Crash:
      spdlog::warn("{}: ending the process", f.message);
      crash_(f.message);
      throw std::logic_error("the fault plan's crash returned");
    case StepFault::Kind::Error:
      spdlog::warn("{}", f.message);
      throw std::runtime_error(f.message);
    case StepFault::Kind::ContextLost:
      spdlog::warn("{}", f.message);
      if (poison_) poison_();  // the device's own sticky error, thrown from its check
      throw DeviceContextLost(f.message);
    case StepFault::Kind::Delay:
      std::this_thread::sleep_for(f.delay);
      return;
  }
}

SampledTokens FaultInjectingBackend::run(const ForwardBatch& batch, std::span<const SamplingRow> rows) {
  strike();
  return ForwardingBackend::run(batch, rows);
}

std::vector<float> FaultInjectingBackend::logits(const ForwardBatch& batch) {
  strike();
  return ForwardingBackend::logits(batch);
}

std::vector<float> FaultInjectingBackend::forward_hidden(const ForwardBatch& batch) {
  strike();
  return ForwardingBackend::forward_hidden(batch);
}

void FaultInjectingBackend::launch(const ForwardBatch& batch, std::span<const SamplingRow> rows,
                                   std::span<const DeferredToken> deferred) {
  strike();
  ForwardingBackend::launch(batch, rows, deferred);
}

}  // namespace troupe
