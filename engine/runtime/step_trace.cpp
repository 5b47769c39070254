#include "engine/runtime/step_trace.h"

#include <cstdlib>

#include <spdlog/spdlog.h>

namespace troupe {

std::unique_ptr<StepTrace> StepTrace::from_env() {
  const char* path = std::getenv("TROUPE_STEP_TRACE");
  if (path == nullptr || *path == '\0') return nullptr;
  std::FILE* file = std::fopen(path, "w");
  if (file == nullptr) {
    spdlog::warn("TROUPE_STEP_TRACE: cannot open {} for writing; no step trace", path);
    return nullptr;
  }
  std::fputs("step,seqs,tokens,decodes,logits,run_us,idle_us,prep_us,staging_us,device_us\n", file);
  return std::unique_ptr<StepTrace>(new StepTrace(file));
}

StepTrace::StepTrace(std::FILE* file) : file_(file) {}
StepTrace::~StepTrace() { std::fclose(file_); }

void StepTrace::take_up() { taken_ = Clock::now(); }
void StepTrace::begin() { start_ = Clock::now(); }

void StepTrace::end(const StepPlan& plan, const ModelBackend::StepTiming& timing) {
  const auto now = Clock::now();
  const auto us = [](Clock::duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); };
  int32_t decodes = 0;
  for (const ScheduledSequence& s : plan.sequences) decodes += !s.is_new && s.token_ids.size() == 1 && s.wants_logits;
  std::fprintf(file_, "%llu,%zu,%d,%d,%d,%lld,%lld,%lld,%.0f,%.0f\n", static_cast<unsigned long long>(plan.step_id),
               plan.sequences.size(), plan.num_batched_tokens, decodes, plan.num_logits(),
               static_cast<long long>(us(now - start_)), static_cast<long long>(first_ ? 0 : us(taken_ - last_end_)),
               static_cast<long long>(us(start_ - taken_)),
               timing.staging_ms < 0 ? -1.0 : timing.staging_ms * 1e3, timing.device_ms < 0 ? -1.0 : timing.device_ms * 1e3);
  // Flushed a line at a time: a serving run usually ends by a signal, and the cost (a few µs) is
  // paid only while tracing.
  std::fflush(file_);
  last_end_ = now;
  first_ = false;
}

}  // namespace troupe
