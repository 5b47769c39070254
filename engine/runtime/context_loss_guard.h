#pragma once
// ContextLossGuard: tells its owner when the backend's device context is lost (a sticky CUDA
// error: DeviceContextLost), then rethrows. Restarting an executor over the same backend would
// fail again at once and spend the restart budget; the node instead ends its process so that its
// parent (`troupe node --respawn`) starts a fresh one with a fresh context, and the head recovers
// as for any lost node.
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "engine/runtime/forwarding_backend.h"
#include "kernels/common/device_context_lost.h"

namespace troupe {

class ContextLossGuard : public ForwardingBackend {
 public:
  using Lost = std::function<void(const std::string& why)>;
  ContextLossGuard(std::shared_ptr<ModelBackend> inner, Lost lost)
      : ForwardingBackend(std::move(inner)), lost_(std::move(lost)) {}

  void allocate_kv_cache(int32_t num_blocks, int32_t block_size) override {
    guarded([&] { ForwardingBackend::allocate_kv_cache(num_blocks, block_size); });
  }
  SampledTokens run(const ForwardBatch& batch, std::span<const SamplingRow> rows) override {
    return guarded([&] { return ForwardingBackend::run(batch, rows); });
  }
  std::vector<float> logits(const ForwardBatch& batch) override {
    return guarded([&] { return ForwardingBackend::logits(batch); });
  }
  std::vector<float> forward_hidden(const ForwardBatch& batch) override {
    return guarded([&] { return ForwardingBackend::forward_hidden(batch); });
  }
  void launch(const ForwardBatch& batch, std::span<const SamplingRow> rows,
              std::span<const DeferredToken> deferred) override {
    guarded([&] { ForwardingBackend::launch(batch, rows, deferred); });
  }
  SampledTokens collect() override {
    return guarded([&] { return ForwardingBackend::collect(); });
  }

 private:
  template <typename F>
  auto guarded(F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const DeviceContextLost& e) {
      lost_(e.what());
      throw;
    }
  }

  Lost lost_;
};

}  // namespace troupe
