#pragma once
// PipeliningFakeBackend: a ModelBackend that pipelines on the CPU, for proving the executor's
// pipelining without a GPU. launch() queues a copy of the step and returns; the step runs (the
// wrapped backend's run()) only when collected, in launch order, after its deferred tokens are
// filled from the samples of the step launched just before it — what a device stream does. It
// records the order of launches and collects and what each launch was given; ready() turns true
// a simulated device time after the step could start, or never while held. Failures can be
// injected at the k-th launch or collect. Thread-safe: a detached executor drives it while a test
// reads its records.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engine/runtime/model_backend.h"
#include "engine/scheduler/step_plan.h"

namespace troupe::test {

class PipeliningFakeBackend : public ModelBackend {
 public:
  using Clock = std::chrono::steady_clock;

  // One call in order: a launch or a collect of launch number `step` (0-based, over all time).
  struct Call {
    bool launch = false;
    int64_t step = 0;
    bool operator==(const Call&) const = default;
  };
  // What one launch was given: the output history each row carried, and how many tokens it deferred.
  struct LaunchRecord {
    std::vector<std::vector<int32_t>> row_outputs;
    size_t num_deferred = 0;
  };

  explicit PipeliningFakeBackend(std::shared_ptr<ModelBackend> inner, std::chrono::microseconds device_time = {})
      : inner_(std::move(inner)), device_time_(device_time) {}

  const ModelConfig& config() const override { return inner_->config(); }
  void allocate_kv_cache(int32_t num_blocks, int32_t block_size) override {
    std::lock_guard lock(mutex_);
    queue_.clear();  // a restarted executor starts over; what the old one left never runs
    previous_tokens_.clear();
    inner_->allocate_kv_cache(num_blocks, block_size);
  }
  SampledTokens run(const ForwardBatch& batch, std::span<const SamplingRow> rows) override {
    launch(batch, rows, {});
    return collect();
  }
  std::vector<float> logits(const ForwardBatch& batch) override { return inner_->logits(batch); }

  bool pipelines() const override { return true; }
  void launch(const ForwardBatch& batch, std::span<const SamplingRow> rows,
              std::span<const DeferredToken> deferred) override {
    std::lock_guard lock(mutex_);
    const int64_t number = launches_++;
    if (number == fail_launch_at_) throw std::runtime_error("injected launch failure");
    if (queue_.size() >= 2) throw std::logic_error("a third step launched before the first was collected");
    Step step{number, batch, {deferred.begin(), deferred.end()}, {}, {}};
    LaunchRecord record{{}, deferred.size()};
    for (const SamplingRow& r : rows) {
      step.rows.push_back({*r.params, r.seed, r.output_index, {r.prompt.begin(), r.prompt.end()},
                           {r.output.begin(), r.output.end()}});
      record.row_outputs.emplace_back(r.output.begin(), r.output.end());
    }
    for (const DeferredToken& d : deferred) {
      if (d.token_index < 0 || d.token_index >= batch.num_tokens() || batch.token_ids[d.token_index] != kTokenSampledByExecutor)
        throw std::logic_error("deferred token " + std::to_string(d.token_index) + " is not a placeholder");
      if (d.row < 0 || d.row >= last_launched_rows_)
        throw std::logic_error("deferred token names row " + std::to_string(d.row) + " of a step with " +
                               std::to_string(last_launched_rows_));
    }
    last_launched_rows_ = static_cast<int32_t>(rows.size());
    const Clock::time_point start = queue_.empty() ? Clock::now() : std::max(Clock::now(), queue_.back().done_at);
    step.done_at = start + device_time_;
    queue_.push_back(std::move(step));
    records_.push_back(std::move(record));
    calls_.push_back({true, number});
  }
  bool ready() const override {
    std::lock_guard lock(mutex_);
    ++ready_calls_;
    return !held_ && !queue_.empty() && Clock::now() >= queue_.front().done_at;
  }
  SampledTokens collect() override {
    while (held_) std::this_thread::sleep_for(std::chrono::microseconds(20));
    std::unique_lock lock(mutex_);
    if (queue_.empty()) throw std::logic_error("collect() without a launched step");
    Step step = std::move(queue_.front());
    queue_.pop_front();
    const int64_t number = collects_++;
    calls_.push_back({false, step.number});
    if (number == fail_collect_at_) throw std::runtime_error("injected device fault");
    lock.unlock();
    std::this_thread::sleep_until(step.done_at);
    lock.lock();
    // The device's view: the previous step has run, so its samples are there to read.
    for (const DeferredToken& d : step.deferred) step.batch.token_ids[d.token_index] = previous_tokens_.at(d.row);
    std::vector<SamplingRow> rows;
    for (const OwnedRow& r : step.rows) rows.push_back({&r.params, r.seed, r.output_index, r.prompt, r.output});
    SampledTokens out = inner_->run(step.batch, rows);
    previous_tokens_ = out.tokens;
    return out;
  }

  void hold(bool held) { held_ = held; }
  void fail_launch_at(int64_t k) { std::lock_guard lock(mutex_); fail_launch_at_ = k; }
  void fail_collect_at(int64_t k) { std::lock_guard lock(mutex_); fail_collect_at_ = k; }
  std::vector<Call> calls() const { std::lock_guard lock(mutex_); return calls_; }
  std::vector<LaunchRecord> launches() const { std::lock_guard lock(mutex_); return records_; }
  int64_t ready_calls() const { std::lock_guard lock(mutex_); return ready_calls_; }
  // Launches that came while an earlier one was still uncollected.
  int64_t launches_ahead() const {
    std::lock_guard lock(mutex_);
    int64_t ahead = 0, uncollected = 0;
    for (const Call& c : calls_) {
      if (c.launch) ahead += uncollected > 0;
      uncollected += c.launch ? 1 : -1;
    }
    return ahead;
  }

 private:
  struct OwnedRow {  // a SamplingRow whose spans' contents are copied: they are valid only in launch()
    SamplingParams params;
    uint64_t seed = 0, output_index = 0;
    std::vector<int32_t> prompt, output;
  };
  struct Step {
    int64_t number = 0;
    ForwardBatch batch;
    std::vector<DeferredToken> deferred;
    std::vector<OwnedRow> rows;
    Clock::time_point done_at;
  };

  std::shared_ptr<ModelBackend> inner_;
  const std::chrono::microseconds device_time_;
  mutable std::mutex mutex_;
  std::deque<Step> queue_;                // launched, not collected; oldest first
  std::vector<int32_t> previous_tokens_;  // the samples of the step that ran last
  int32_t last_launched_rows_ = 0;
  std::atomic<bool> held_{false};
  int64_t launches_ = 0, collects_ = 0, fail_launch_at_ = -1, fail_collect_at_ = -1;
  mutable int64_t ready_calls_ = 0;
  std::vector<Call> calls_;
  std::vector<LaunchRecord> records_;
};

}  // namespace troupe::test
