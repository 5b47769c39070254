#include "engine/runtime/step_trace.h"

#include <cstdlib>

#include <spdlog/spdlog.h>

namespace troupe {
namespace {

long long us(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

}  // namespace

std::unique_ptr<StepTrace> StepTrace::from_env() {
  const char* path = std::getenv("TROUPE_STEP_TRACE");
  if (path == nullptr || *path == '\0') return nullptr;
  std::FILE* file = std::fopen(path, "w");
  if (file == nullptr) {
    spdlog::warn("TROUPE_STEP_TRACE: cannot open {} for writing; no step trace", path);
    return nullptr;
  }
  std::fputs("step,seqs,tokens,decodes,logits,run_us,idle_us,prep_us,staging_us,device_us,ahead,gpu_idle_us\n", file);
  return std::unique_ptr<StepTrace>(new StepTrace(file));
}

StepTrace::StepTrace(std::FILE* file) : file_(file) {}
StepTrace::~StepTrace() { std::fclose(file_); }

void StepTrace::take_up() {
  taken_ = Clock::now();
  idle_us_ = first_ || !launched_.empty() ? 0 : us(taken_ - last_end_);
}

void StepTrace::launching(const StepPlan& plan) {
  Launched l{.step_id = plan.step_id, .seqs = plan.sequences.size(), .tokens = plan.num_batched_tokens,
             .logits = plan.num_logits(), .start = Clock::now(), .idle_us = idle_us_, .ahead = !launched_.empty()};
  for (const ScheduledSequence& s : plan.sequences) l.decodes += !s.is_new && s.token_ids.size() == 1 && s.wants_logits;
  l.prep_us = us(l.start - taken_);
  launched_.push_back(l);
  first_ = false;
}

void StepTrace::collected(const ModelBackend::StepTiming& timing) {
  if (launched_.empty()) return;  // a collect the trace did not see launched: nothing to pair it with
  const auto now = Clock::now();
  const Launched l = launched_.front();
  launched_.pop_front();
  std::fprintf(file_, "%llu,%zu,%d,%d,%d,%lld,%lld,%lld,%.0f,%.0f,%d,%.0f\n", static_cast<unsigned long long>(l.step_id),
               l.seqs, l.tokens, l.decodes, l.logits, us(now - l.start), l.idle_us, l.prep_us,
               timing.staging_ms < 0 ? -1.0 : timing.staging_ms * 1e3, timing.device_ms < 0 ? -1.0 : timing.device_ms * 1e3,
               l.ahead ? 1 : 0, timing.gpu_idle_ms < 0 ? -1.0 : timing.gpu_idle_ms * 1e3);
  // Flushed a line at a time: a serving run usually ends by a signal, and the cost (a few µs) is
  // paid only while tracing.
  std::fflush(file_);
  last_end_ = now;
}

}  // namespace troupe
