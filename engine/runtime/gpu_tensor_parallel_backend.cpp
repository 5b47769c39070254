#include "engine/runtime/gpu_tensor_parallel_backend.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "engine/model/tensor_shard.h"

namespace troupe {
namespace {

// Threads for ranks 1..n-1 that each run the task they are handed, one at a time.
class RankThreads {
 public:
  using Task = std::function<void(int32_t rank)>;

  explicit RankThreads(int32_t ranks) : slots_(static_cast<size_t>(ranks)) {
    for (int32_t r = 1; r < ranks; ++r) threads_.emplace_back([this, r] { serve(r); });
  }
  ~RankThreads() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // Runs task(r) on every rank at once, rank 0 on the caller's thread; returns when all are done
  // and rethrows the first failure (rank 0's first).
  void run(const Task& task) {
    {
      std::lock_guard lock(mutex_);
      for (size_t r = 1; r < slots_.size(); ++r) slots_[r] = {&task, nullptr, false};
      ++generation_;
    }
    wake_.notify_all();
    std::exception_ptr first;
    try {
      task(0);
    } catch (...) {
      first = std::current_exception();
    }
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] {
      for (size_t r = 1; r < slots_.size(); ++r)
        if (!slots_[r].finished) return false;
      return true;
    });
    for (size_t r = 1; r < slots_.size() && !first; ++r) first = slots_[r].error;
    if (first) std::rethrow_exception(first);
  }

 private:
  struct Slot {
    const Task* task = nullptr;
    std::exception_ptr error;
    bool finished = true;
  };

  void serve(int32_t r) {
    uint64_t seen = 0;
    for (;;) {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      const Task* task = slots_[static_cast<size_t>(r)].task;
      lock.unlock();
      std::exception_ptr error;
      try {
        (*task)(r);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      slots_[static_cast<size_t>(r)].error = error;
      slots_[static_cast<size_t>(r)].finished = true;
      lock.unlock();
      done_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<Slot> slots_;  // [ranks] the task in hand of ranks 1..; slot 0 unused
  uint64_t generation_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

class GpuTensorParallelBackend : public ModelBackend {
 public:
  GpuTensorParallelBackend(const ModelConfig& config, const Checkpoint* checkpoint, uint64_t seed,
                           const GpuBackendOptions& options, std::vector<std::unique_ptr<DeviceCommunicator>> group,
                           const std::vector<int>& devices, const LoadProgress& progress)
      : group_(std::move(group)), ranks_(group_.size()), threads_(static_cast<int32_t>(group_.size())) {
    const auto n = static_cast<int32_t>(group_.size());
    threads_.run([&](int32_t r) {
      GpuBackendOptions o = options;
      o.device = devices[static_cast<size_t>(r)];
      o.tp_rank = r;
      o.tp_size = n;
      o.tp_group = group_[static_cast<size_t>(r)].get();
      ranks_[static_cast<size_t>(r)] = make_gpu_backend(config, checkpoint, seed, o, r == 0 ? progress : LoadProgress{});
    });
  }

  const ModelConfig& config() const override { return head().config(); }
  int32_t kv_cache_capacity() const override {
    int32_t blocks = head().kv_cache_capacity();
    for (const auto& r : ranks_) blocks = std::min(blocks, r->kv_cache_capacity());
    return blocks;
  }
  bool applies_logit_adjustments() const override { return head().applies_logit_adjustments(); }
  bool pipelines() const override { return head().pipelines(); }
  bool ready() const override { return head().ready(); }

  void allocate_kv_cache(int32_t num_blocks, int32_t block_size) override {
    on_all([&](ModelBackend& b) { b.allocate_kv_cache(num_blocks, block_size); });
  }
  SampledTokens run(const ForwardBatch& batch, std::span<const SamplingRow> rows) override {
    return first_of<SampledTokens>([&](ModelBackend& b) { return b.run(batch, rows); });
  }
  std::vector<float> logits(const ForwardBatch& batch) override {
    return first_of<std::vector<float>>([&](ModelBackend& b) { return b.logits(batch); });
  }
  void launch(const ForwardBatch& batch, std::span<const SamplingRow> rows,
              std::span<const DeferredToken> deferred) override {
    on_all([&](ModelBackend& b) { b.launch(batch, rows, deferred); });
  }
  SampledTokens collect() override {
    return first_of<SampledTokens>([&](ModelBackend& b) { return b.collect(); });
  }
  void enable_step_timing() override { head().enable_step_timing(); }
  StepTiming last_step_timing() const override { return head().last_step_timing(); }

 private:
  ModelBackend& head() const { return *ranks_.front(); }

  void on_all(const std::function<void(ModelBackend&)>& f) {
    threads_.run([&](int32_t r) { f(*ranks_[static_cast<size_t>(r)]); });
  }
  // Runs f on every rank and returns rank 0's result (the others' are the same).
  template <typename T>
  T first_of(const std::function<T(ModelBackend&)>& f) {
    T out;
    threads_.run([&](int32_t r) {
      T got = f(*ranks_[static_cast<size_t>(r)]);
      if (r == 0) out = std::move(got);
    });
    return out;
  }

  std::vector<std::unique_ptr<DeviceCommunicator>> group_;  // [ranks] outlives the backends below
  std::vector<std::shared_ptr<ModelBackend>> ranks_;
  RankThreads threads_;
};

}  // namespace

std::shared_ptr<ModelBackend> make_gpu_tensor_parallel_backend(const ModelConfig& config, const Checkpoint* checkpoint,
                                                               uint64_t dummy_seed, const GpuBackendOptions& options,
                                                               std::vector<std::unique_ptr<DeviceCommunicator>> group,
                                                               const std::vector<int>& devices,
                                                               const LoadProgress& progress) {
  const auto n = static_cast<int64_t>(group.size());
  if (const std::string misfit = tensor_parallel_misfit(config, n); !misfit.empty()) throw std::invalid_argument(misfit);
  if (devices.size() != group.size())
    throw std::invalid_argument("a GPU tensor-parallel group of " + std::to_string(n) + " ranks needs as many devices, got " +
                                std::to_string(devices.size()));
  for (int64_t r = 0; r < n; ++r)
    if (!group[static_cast<size_t>(r)] || group[static_cast<size_t>(r)]->rank() != r ||
        group[static_cast<size_t>(r)]->size() != n)
      throw std::invalid_argument("the group's communicators must be ranks 0.." + std::to_string(n - 1) + " in order");
  return std::make_shared<GpuTensorParallelBackend>(config, checkpoint, dummy_seed, options, std::move(group), devices,
                                                    progress);
}

}  // namespace troupe
