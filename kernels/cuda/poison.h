#pragma once
// Fault drills only (a node's --fault-plan, sticky device_error): poisons the calling process's
// CUDA context on `device` as a real out-of-bounds bug would — a kernel writes to an address no
// allocation holds — so the sticky-error path (cuda_check.h: DeviceContextLost, then a fresh
// process) is exercised by the real error, not by a stand-in. Throws DeviceContextLost once the
// device reports cudaErrorIllegalAddress.
namespace troupe::cuda {

void poison_context(int device);

}  // namespace troupe::cuda
