#include "comm/cuda/one_device_group.h"

#include <algorithm>
#include <barrier>  // std::barrier: every rank's enqueue before anyone waits on it
#include <stdexcept>
#include <string>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace troupe {
namespace {

void check(cudaError_t status, const char* call) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("one-device group: ") + call + " failed: " + cudaGetErrorName(status) + " (" +
                             cudaGetErrorString(status) + ")");
}
#define CHECK(call) check((call), #call)

struct RankBuffers {
  const void* data[kMaxOneDeviceRanks];  // [size] each [count]
};

template <typename T>
__device__ __forceinline__ float to_float(T v) {
  if constexpr (sizeof(T) == 2) {
    return __bfloat162float(v);
  } else {
    return v;
  }
}

// out[i] = in_0[i] + in_1[i] + ... in rank order, accumulated in fp32 and rounded once.
template <typename T>
__global__ void sum_ranks_kernel(T* __restrict__ out, RankBuffers in, int32_t ranks, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    float s = 0.0f;
    for (int32_t r = 0; r < ranks; ++r) s += to_float(static_cast<const T*>(in.data[r])[i]);
    if constexpr (sizeof(T) == 2) {
      out[i] = __float2bfloat16(s);
    } else {
      out[i] = s;
    }
  }
}

size_t element_bytes(DeviceDType d) { return d == DeviceDType::BF16 ? 2 : 4; }

// What the ranks of one group share.
struct Shared {
  Shared(int32_t n, int dev) : size(n), device(dev), sync(n), posted(n), counts(n), dtypes(n), ready(n), read(n) {
    CHECK(cudaSetDevice(device));
    for (int32_t r = 0; r < n; ++r) {
      CHECK(cudaEventCreateWithFlags(&ready[r], cudaEventDisableTiming));
      CHECK(cudaEventCreateWithFlags(&read[r], cudaEventDisableTiming));
    }
  }
  ~Shared() {
    for (cudaEvent_t e : ready) cudaEventDestroy(e);
    for (cudaEvent_t e : read) cudaEventDestroy(e);
  }
  int32_t size;
  int device;
  std::barrier<> sync;
  // Rank r's buffer, count and dtype for the all-reduce in progress: written by rank r before the
  // first barrier, read by all between the two.
  std::vector<void*> posted;
  std::vector<int64_t> counts;
  std::vector<DeviceDType> dtypes;
  std::vector<cudaEvent_t> ready;  // [size] rank r's buffer holds its part (recorded on its stream)
  std::vector<cudaEvent_t> read;   // [size] rank r has read every part (its sum is in its scratch)
};

class OneDeviceRank : public DeviceCommunicator {
 public:
  OneDeviceRank(std::shared_ptr<Shared> group, int32_t rank) : group_(std::move(group)), rank_(rank) {}
  ~OneDeviceRank() override {
    if (scratch_) cudaFree(scratch_);
  }

  int32_t rank() const override { return rank_; }
  int32_t size() const override { return group_->size; }
  bool capturable() const override { return false; }

  void all_reduce_sum(void* data, int64_t count, DeviceDType dtype, void* stream_ptr) override {
    Shared& g = *group_;
    auto stream = static_cast<cudaStream_t>(stream_ptr);
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    CHECK(cudaStreamIsCapturing(stream, &capturing));
    if (capturing != cudaStreamCaptureStatusNone)
      throw std::runtime_error("one-device group: all_reduce_sum cannot be captured in a CUDA graph");
    const size_t bytes = static_cast<size_t>(count) * element_bytes(dtype);
    if (bytes > scratch_bytes_) {
      CHECK(cudaStreamSynchronize(stream));  // the old scratch may still be copied from
      CHECK(cudaSetDevice(g.device));
      if (scratch_) CHECK(cudaFree(scratch_));
      scratch_ = nullptr;
      CHECK(cudaMalloc(&scratch_, bytes));
      scratch_bytes_ = bytes;
    }
    g.posted[rank_] = data;
    g.counts[rank_] = count;
    g.dtypes[rank_] = dtype;
    CHECK(cudaEventRecord(g.ready[rank_], stream));
    g.sync.arrive_and_wait();
    for (int32_t r = 0; r < g.size; ++r) {
      if (g.counts[r] != count || g.dtypes[r] != dtype) {
        g.sync.arrive_and_wait();  // every rank reads the counts before any posts again
        throw std::runtime_error("one-device group: all_reduce_sum: rank " + std::to_string(r) + " passed " +
                                 std::to_string(g.counts[r]) + " elements, rank " + std::to_string(rank_) + " " +
                                 std::to_string(count) + " (or another dtype)");
      }
    }
    RankBuffers in{};
    for (int32_t r = 0; r < g.size; ++r) {
      CHECK(cudaStreamWaitEvent(stream, g.ready[r], 0));
      in.data[r] = g.posted[r];
    }
    if (count > 0) {
      const int threads = 256;
      const auto blocks = static_cast<unsigned>(std::min<int64_t>((count + threads - 1) / threads, 1024));
      if (dtype == DeviceDType::BF16) {
        sum_ranks_kernel<<<blocks, threads, 0, stream>>>(static_cast<__nv_bfloat16*>(scratch_), in, g.size, count);
      } else {
        sum_ranks_kernel<<<blocks, threads, 0, stream>>>(static_cast<float*>(scratch_), in, g.size, count);
      }
      CHECK(cudaGetLastError());
    }
    CHECK(cudaEventRecord(g.read[rank_], stream));
    // Nobody may overwrite its buffer while a slower rank's sum still reads it.
    g.sync.arrive_and_wait();
    for (int32_t r = 0; r < g.size; ++r) CHECK(cudaStreamWaitEvent(stream, g.read[r], 0));
    if (count > 0) CHECK(cudaMemcpyAsync(data, scratch_, bytes, cudaMemcpyDeviceToDevice, stream));
  }

 private:
  std::shared_ptr<Shared> group_;
  int32_t rank_;
  void* scratch_ = nullptr;  // [count] this rank's sum before it is copied back into data
  size_t scratch_bytes_ = 0;
};

}  // namespace

std::vector<std::unique_ptr<DeviceCommunicator>> make_one_device_group(int32_t size, int device) {
  if (size < 1 || size > kMaxOneDeviceRanks)
    throw std::invalid_argument("a one-device group takes 1 to " + std::to_string(kMaxOneDeviceRanks) + " ranks, got " +
                                std::to_string(size));
  auto group = std::make_shared<Shared>(size, device);
  std::vector<std::unique_ptr<DeviceCommunicator>> out;
  for (int32_t r = 0; r < size; ++r) out.push_back(std::make_unique<OneDeviceRank>(group, r));
  return out;
}

}  // namespace troupe
