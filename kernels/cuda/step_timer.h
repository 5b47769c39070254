#pragma once
// StepTimer: where a step's time went on the GPU, from CUDA events around each step (TROUPE_STEP_TRACE
// only). With pipelined steps the device may still be running step N when step N+1 is launched,
// so a step's device time starts at the later of its launch and the end of the step before it,
// and the GPU sat idle only when its launch came after that end. Internal to kernels/cuda.
#include <cuda_runtime_api.h>

#include "kernels/cuda/decoder.h"

namespace troupe::cuda {

class StepTimer {
 public:
  StepTimer();
  ~StepTimer();
  StepTimer(const StepTimer&) = delete;
  StepTimer& operator=(const StepTimer&) = delete;

  // At the step's launch (its inputs staged, its first kernel next on the stream).
  void launched(cudaStream_t stream, float staging_ms);
  // After the step's last work (the copy of its results back); returns the step's ticket.
  int ended(cudaStream_t stream);
  // Waits for the step's end. Valid while at most two steps are launched and not read back.
  StepTiming timing(int ticket) const;

 private:
  static constexpr int kSlots = 3;  // the step read, the one after it, and the one before it
  cudaEvent_t launched_[kSlots] = {}, ended_[kSlots] = {};
  float staging_ms_[kSlots] = {};
  bool recorded_[kSlots] = {};
  int slot_ = 0;
};

}  // namespace troupe::cuda
