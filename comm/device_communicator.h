#pragma once
// DeviceCommunicator: the collective a tensor-parallel group of GPU ranks needs, over device
// buffers, enqueued on a CUDA stream. The sharded CUDA decoder (kernels/cuda/decoder.h) calls it
// after o_proj and after down_proj without knowing what moves the bytes: NCCL (comm/nccl), or the
// one-process group that runs every rank on one device for tests (comm/cuda). Pure C++: buffers
// and streams pass as void*, so this header needs no CUDA include.
//
// Contract, for every implementation (as Communicator's, comm/communicator.h, on the device):
// - all_reduce_sum is called by every rank of the group in the same order with the same count and
//   dtype; it is enqueued on `stream` and returns without waiting for the device (the sum is there
//   for whatever the stream runs next).
// - Afterwards every rank's buffer holds the same bits: the ranks' residual streams must not drift
//   apart, or their next layers would compute on different inputs.
// - capturable(): the call may be made while `stream` is being captured into a CUDA graph (the
//   decode graphs), and replaying the graph repeats the collective. NCCL is; a group that
//   synchronizes on the host is not, and the decoder then runs its steps eagerly.
// - Failures (a peer gone, a bad argument) throw std::runtime_error naming the operation.
#include <cstdint>

namespace troupe {

enum class DeviceDType { BF16, F32 };

class DeviceCommunicator {
 public:
  virtual ~DeviceCommunicator() = default;

  virtual int32_t rank() const = 0;
  virtual int32_t size() const = 0;
  virtual bool capturable() const = 0;

  // data: [count] elements of `dtype` on this rank's device; stream: the cudaStream_t to enqueue
  // on. Afterwards each rank's data is the element-wise sum of all of them.
  virtual void all_reduce_sum(void* data, int64_t count, DeviceDType dtype, void* stream) = 0;
};

}  // namespace troupe
