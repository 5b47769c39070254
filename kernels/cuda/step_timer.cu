#include "kernels/cuda/step_timer.h"

#include <algorithm>

#include "kernels/cuda/cuda_check.h"

namespace troupe::cuda {

StepTimer::StepTimer() {
  for (int i = 0; i < kSlots; ++i) {
    TROUPE_CUDA_CHECK(cudaEventCreate(&launched_[i]));
    TROUPE_CUDA_CHECK(cudaEventCreate(&ended_[i]));
  }
}

StepTimer::~StepTimer() {
  for (int i = 0; i < kSlots; ++i) {
    cudaEventDestroy(launched_[i]);
    cudaEventDestroy(ended_[i]);
  }
}

void StepTimer::launched(cudaStream_t stream, float staging_ms) {
  TROUPE_CUDA_CHECK(cudaEventRecord(launched_[slot_], stream));
  staging_ms_[slot_] = staging_ms;
}

int StepTimer::ended(cudaStream_t stream) {
  TROUPE_CUDA_CHECK(cudaEventRecord(ended_[slot_], stream));
  recorded_[slot_] = true;
  const int ticket = slot_;
  slot_ = (slot_ + 1) % kSlots;
  return ticket;
}

StepTiming StepTimer::timing(int ticket) const {
  StepTiming t;
  if (ticket < 0 || ticket >= kSlots || !recorded_[ticket] || cudaEventSynchronize(ended_[ticket]) != cudaSuccess)
    return t;
  t.staging_ms = staging_ms_[ticket];
  if (cudaEventElapsedTime(&t.device_ms, launched_[ticket], ended_[ticket]) != cudaSuccess) return {};
  const int before = (ticket + kSlots - 1) % kSlots;
  float gap = 0;
  if (!recorded_[before] || cudaEventElapsedTime(&gap, ended_[before], launched_[ticket]) != cudaSuccess) {
    t.gpu_idle_ms = -1;  // the first step, or the one before it not comparable
    return t;
  }
  // Launched while the step before still ran: its device time starts where that one ended.
  if (gap < 0) t.device_ms = std::max(0.0f, t.device_ms + gap);
  t.gpu_idle_ms = std::max(0.0f, gap);
  return t;
}

}  // namespace troupe::cuda
