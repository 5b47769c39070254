#pragma once
// The one-shot all-reduce for decode-sized messages (batch x hidden x 2 bytes): every rank copies
// its part into a region its peers can address (the same device, a peer GPU over NVLink with peer
// access, or a region opened from a CUDA IPC handle), raises a flag in each peer's region, waits
// for every peer's flag, then reads all the parts and sums them itself, in rank order in fp32, so
// every rank holds the same bits. One kernel, one barrier: NCCL's ring takes ~19-25 us for such a
// message on H100 NVLink, the one-shot kernels of vLLM, TensorRT-LLM and SGLang ~4-9 us.
//
// The protocol, per call and per block b of the kernel's fixed-shape grid:
//   epoch = ++counter[b] (in the rank's own region: graph replays get fresh epochs, and every rank
//   makes the same calls, so block b's epoch agrees on every rank);
//   copy the block's slice of the input into data[epoch % 2] of the own region;
//   release-store epoch into flags[b][rank] of every peer's region; wait until own flags[b][j] >=
//   epoch for every peer j (acquire); sum slice b of every rank's data[epoch % 2] into the output.
// Double buffering makes one barrier enough: a rank can run at most one call ahead of a peer
// (its next barrier needs the peer's next flag, raised only after the peer's kernel for this
// call has ended), and that call writes the other half.
//
// Every rank's kernel must be resident at once (each waits for the others): on one device (the
// tests' N ranks in one process) the grid is kept small so N of them fit beside other work.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "comm/device_communicator.h"

namespace troupe {

class OneShotAllReduce {
 public:
  static constexpr int32_t kMaxRanks = 8;
  static constexpr int32_t kMaxBlocks = 16;

  // Rank `rank` of `size` on `device`; max_bytes: the largest message it will take. Allocates the
  // rank's region (flags, counters, two data halves of max_bytes), zeroed.
  OneShotAllReduce(int32_t rank, int32_t size, size_t max_bytes, int device);
  ~OneShotAllReduce();
  OneShotAllReduce(const OneShotAllReduce&) = delete;
  OneShotAllReduce& operator=(const OneShotAllReduce&) = delete;

  // This rank's region: a device pointer (cudaIpcGetMemHandle of it serves peers in other processes).
  void* region() const { return region_; }
  // Every rank's region in rank order (this rank's own included), as pointers this rank's device
  // can address: the same device, a peer with peer access enabled, or an opened IPC handle.
  void connect(std::span<void* const> regions);

  size_t max_bytes() const { return max_bytes_; }
  // data: [count] of dtype on this rank's device, count * element size <= max_bytes; enqueued on
  // `stream` (a cudaStream_t); capturable (a kernel, no host synchronization).
  void all_reduce_sum(void* data, int64_t count, DeviceDType dtype, void* stream);

 private:
  int32_t rank_, size_;
  size_t max_bytes_;
  int device_;
  void* region_ = nullptr;
  std::vector<void*> peers_;  // [size] every rank's region
};

// The ranks of one process, rank r's region on devices[r] (the same device more than once is
// allowed: the tests' N ranks on one GPU), connected to each other; peer access is enabled
// between distinct devices (throws when a pair cannot reach each other's memory).
std::vector<std::unique_ptr<OneShotAllReduce>> make_one_shot_group_local(const std::vector<int>& devices,
                                                                         size_t max_bytes);

// A DeviceCommunicator that takes the one-shot path for messages up to `threshold_bytes` and hands
// larger ones to `fallback` (NCCL), so prefill's big sums keep NCCL's bandwidth. Capturable when
// the fallback is. Ranks must agree on the threshold (they do: they pass the same sizes).
std::unique_ptr<DeviceCommunicator> make_one_shot_communicator(std::unique_ptr<OneShotAllReduce> one_shot,
                                                               std::unique_ptr<DeviceCommunicator> fallback,
                                                               size_t threshold_bytes);

}  // namespace troupe
