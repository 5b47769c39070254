#pragma once
// StageProbeBackend: a pipeline stage's backend wrapped for tests. It forwards every call to the
// real stage, and on the way counts how many stages of its pipeline compute at once (each step
// held for `hold` so overlapping steps overlap visibly), and can fail one step on purpose.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>

#include "engine/runtime/model_backend.h"

namespace troupe::test {

struct StageConcurrency {
  std::atomic<int> running{0};
  std::atomic<int> most{0};  // the most stages computing at once so far
};

class StageProbeBackend : public ModelBackend {
 public:
  StageProbeBackend(std::shared_ptr<ModelBackend> inner, std::shared_ptr<StageConcurrency> concurrency,
                    std::chrono::microseconds hold = {}, int fail_at_step = -1)
      : inner_(std::move(inner)), concurrency_(std::move(concurrency)), hold_(hold), fail_at_step_(fail_at_step) {}

  const ModelConfig& config() const override { return inner_->config(); }
  void allocate_kv_cache(int32_t n, int32_t bs) override { inner_->allocate_kv_cache(n, bs); }
  LayerRange layers() const override { return inner_->layers(); }
  SampledTokens run(const ForwardBatch& b, std::span<const SamplingRow> rows) override {
    Computing c(*this);
    return inner_->run(b, rows);
  }
  std::vector<float> logits(const ForwardBatch& b) override {
    Computing c(*this);
    return inner_->logits(b);
  }
  std::vector<float> forward_hidden(const ForwardBatch& b) override {
    Computing c(*this);
    return inner_->forward_hidden(b);
  }
  int steps() const { return steps_.load(); }

 private:
  // One step on this stage: counted while it lasts; the step numbered fail_at_step throws.
  struct Computing {
    explicit Computing(StageProbeBackend& b) : b_(b) {
      const int now = ++b_.concurrency_->running;
      int most = b_.concurrency_->most.load();
      while (now > most && !b_.concurrency_->most.compare_exchange_weak(most, now)) {
      }
      if (b_.hold_.count() > 0) std::this_thread::sleep_for(b_.hold_);
      if (b_.steps_++ == b_.fail_at_step_) {
        --b_.concurrency_->running;
        throw std::runtime_error("a stage failed on purpose");
      }
    }
    ~Computing() { --b_.concurrency_->running; }  // not run when the constructor threw
    StageProbeBackend& b_;
  };

  std::shared_ptr<ModelBackend> inner_;
  std::shared_ptr<StageConcurrency> concurrency_;
  std::chrono::microseconds hold_;
  int fail_at_step_;
  std::atomic<int> steps_{0};
};

}  // namespace troupe::test
