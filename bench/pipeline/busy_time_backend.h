#pragma once
// BusyTimeBackend: a stage's backend that adds up the wall time its thread spends computing (in
// forward_hidden, run or logits), so a benchmark can report each stage's utilization: busy time /
// the run's wall time.
#include <atomic>
#include <chrono>
#include <memory>

#include "engine/runtime/model_backend.h"

namespace troupe::bench {

class BusyTimeBackend : public ModelBackend {
 public:
  explicit BusyTimeBackend(std::shared_ptr<ModelBackend> inner) : inner_(std::move(inner)) {}

  const ModelConfig& config() const override { return inner_->config(); }
  void allocate_kv_cache(int32_t n, int32_t bs) override { inner_->allocate_kv_cache(n, bs); }
  LayerRange layers() const override { return inner_->layers(); }
  SampledTokens run(const ForwardBatch& b, std::span<const SamplingRow> rows) override {
    Timed t(*this);
    return inner_->run(b, rows);
  }
  std::vector<float> logits(const ForwardBatch& b) override {
    Timed t(*this);
    return inner_->logits(b);
  }
  std::vector<float> forward_hidden(const ForwardBatch& b) override {
    Timed t(*this);
    return inner_->forward_hidden(b);
  }

  double busy_seconds() const { return static_cast<double>(busy_ns_.load()) * 1e-9; }
  int64_t steps() const { return steps_.load(); }
  void reset() {
    busy_ns_ = 0;
    steps_ = 0;
  }

 private:
  struct Timed {
    explicit Timed(BusyTimeBackend& b) : b_(b), start_(std::chrono::steady_clock::now()) {}
    ~Timed() {
      b_.busy_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_).count();
      ++b_.steps_;
    }
    BusyTimeBackend& b_;
    std::chrono::steady_clock::time_point start_;
  };

  std::shared_ptr<ModelBackend> inner_;
  std::atomic<int64_t> busy_ns_{0};
  std::atomic<int64_t> steps_{0};
};

}  // namespace troupe::bench
