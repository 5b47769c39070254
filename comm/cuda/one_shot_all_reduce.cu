#include "comm/cuda/one_shot_all_reduce.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace troupe {
namespace {

void check(cudaError_t status, const char* call) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("one-shot all-reduce: ") + call + " failed: " + cudaGetErrorName(status) +
                             " (" + cudaGetErrorString(status) + ")");
}
#define CHECK(call) check((call), #call)

constexpr int kThreads = 512;
constexpr size_t kVec = 16;  // bytes a thread moves at once

// A rank's region: [kMaxBlocks][kMaxRanks] flags, [kMaxBlocks] counters, then two data halves.
constexpr size_t kFlagsBytes = sizeof(uint32_t) * OneShotAllReduce::kMaxBlocks * OneShotAllReduce::kMaxRanks;
constexpr size_t kCountersBytes = sizeof(uint32_t) * OneShotAllReduce::kMaxBlocks;
constexpr size_t kHeaderBytes = (kFlagsBytes + kCountersBytes + 255) / 256 * 256;

struct Regions {
  char* at[OneShotAllReduce::kMaxRanks];  // every rank's region
};

__device__ __forceinline__ uint32_t* flags_of(char* region) { return reinterpret_cast<uint32_t*>(region); }
__device__ __forceinline__ uint32_t* counters_of(char* region) {
  return reinterpret_cast<uint32_t*>(region + kFlagsBytes);
}

__device__ __forceinline__ void store_release(uint32_t* p, uint32_t v) {
  asm volatile("st.release.sys.global.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}
__device__ __forceinline__ uint32_t load_acquire(const uint32_t* p) {
  uint32_t v;
  asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

template <typename T>
__device__ __forceinline__ void add_vec(float* acc, uint4 v) {
  if constexpr (sizeof(T) == 2) {
    const auto* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __bfloat1622float2(h[i]);
      acc[2 * i] += f.x;
      acc[2 * i + 1] += f.y;
    }
  } else {
    const auto* f = reinterpret_cast<const float*>(&v);
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[i] += f[i];
  }
}

template <typename T>
__device__ __forceinline__ uint4 pack_vec(const float* acc) {
  uint4 out;
  if constexpr (sizeof(T) == 2) {
    auto* h = reinterpret_cast<__nv_bfloat162*>(&out);
#pragma unroll
    for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(acc[2 * i], acc[2 * i + 1]);
  } else {
    auto* f = reinterpret_cast<float*>(&out);
#pragma unroll
    for (int i = 0; i < 4; ++i) f[i] = acc[i];
  }
  return out;
}

// data: [vecs] 16-byte vectors of T, in place. Block b owns vectors [b * per_block, ...).
template <typename T>
__global__ void __launch_bounds__(kThreads) one_shot_kernel(uint4* data, int64_t vecs, Regions regions, int32_t rank,
                                                            int32_t ranks, size_t half_bytes) {
  const int b = blockIdx.x;
  char* own = regions.at[rank];
  __shared__ uint32_t epoch;
  if (threadIdx.x == 0) {
    uint32_t* counter = counters_of(own) + b;
    epoch = *counter + 1;
    *counter = epoch;
  }
  __syncthreads();
  const size_t half = (epoch & 1u) * half_bytes;
  const int64_t per_block = (vecs + gridDim.x - 1) / gridDim.x;
  const int64_t begin = b * per_block, end = min(vecs, begin + per_block);
  auto* mine = reinterpret_cast<uint4*>(own + kHeaderBytes + half);
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) mine[i] = data[i];
  __syncthreads();
  // Raise this block's flag in every rank's region, then wait for every rank's flag in ours.
  if (threadIdx.x < ranks) {
    __threadfence_system();
    store_release(flags_of(regions.at[threadIdx.x]) + b * OneShotAllReduce::kMaxRanks + rank, epoch);
    const uint32_t* flag = flags_of(own) + b * OneShotAllReduce::kMaxRanks + threadIdx.x;
    while (load_acquire(flag) < epoch) {
    }
  }
  __syncthreads();
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    float acc[kVec / sizeof(T)] = {};
    for (int32_t r = 0; r < ranks; ++r)
      add_vec<T>(acc, __ldcg(reinterpret_cast<const uint4*>(regions.at[r] + kHeaderBytes + half) + i));
    data[i] = pack_vec<T>(acc);
  }
}

}  // namespace

OneShotAllReduce::OneShotAllReduce(int32_t rank, int32_t size, size_t max_bytes, int device)
    : rank_(rank), size_(size), max_bytes_((max_bytes + kVec - 1) / kVec * kVec), device_(device) {
  if (size < 1 || size > kMaxRanks || rank < 0 || rank >= size)
    throw std::invalid_argument("one-shot all-reduce: rank " + std::to_string(rank) + " of " + std::to_string(size) +
                                " (at most " + std::to_string(kMaxRanks) + " ranks)");
  int caller = 0;  // the caller's current device, given back
  CHECK(cudaGetDevice(&caller));
  CHECK(cudaSetDevice(device));
  const size_t bytes = kHeaderBytes + 2 * max_bytes_;
  CHECK(cudaMalloc(&region_, bytes));
  CHECK(cudaMemset(region_, 0, bytes));
  CHECK(cudaDeviceSynchronize());
  CHECK(cudaSetDevice(caller));
}

OneShotAllReduce::~OneShotAllReduce() {
  if (region_) {
    cudaSetDevice(device_);
    cudaFree(region_);
  }
}

void OneShotAllReduce::connect(std::span<void* const> regions) {
  if (static_cast<int32_t>(regions.size()) != size_ || regions[static_cast<size_t>(rank_)] != region_)
    throw std::invalid_argument("one-shot all-reduce: connect takes every rank's region in rank order, this one's included");
  peers_.assign(regions.begin(), regions.end());
}

void OneShotAllReduce::all_reduce_sum(void* data, int64_t count, DeviceDType dtype, void* stream) {
  const size_t elem = dtype == DeviceDType::BF16 ? 2 : 4;
  const size_t bytes = static_cast<size_t>(count) * elem;
  if (peers_.empty()) throw std::logic_error("one-shot all-reduce before connect");
  if (bytes > max_bytes_ || bytes % kVec != 0 || reinterpret_cast<uintptr_t>(data) % kVec != 0)
    throw std::invalid_argument("one-shot all-reduce: " + std::to_string(bytes) +
                                " bytes (at most max_bytes, a multiple of 16, 16-byte aligned)");
  if (bytes == 0) return;
  Regions r{};
  for (int32_t i = 0; i < size_; ++i) r.at[i] = static_cast<char*>(peers_[static_cast<size_t>(i)]);
  const auto vecs = static_cast<int64_t>(bytes / kVec);
  // A fixed grid for a given size, the same on every rank (block b's epochs must agree); small, so
  // that every rank's kernel is resident at once.
  const int blocks = static_cast<int>(std::clamp<int64_t>((vecs + kThreads - 1) / kThreads, 1, kMaxBlocks));
  auto s = static_cast<cudaStream_t>(stream);
  if (dtype == DeviceDType::BF16) {
    one_shot_kernel<__nv_bfloat16><<<blocks, kThreads, 0, s>>>(static_cast<uint4*>(data), vecs, r, rank_, size_, max_bytes_);
  } else {
    one_shot_kernel<float><<<blocks, kThreads, 0, s>>>(static_cast<uint4*>(data), vecs, r, rank_, size_, max_bytes_);
  }
  CHECK(cudaGetLastError());
}

std::vector<std::unique_ptr<OneShotAllReduce>> make_one_shot_group_local(const std::vector<int>& devices,
                                                                         size_t max_bytes) {
  const auto n = static_cast<int32_t>(devices.size());
  int caller = 0;  // the caller's current device, given back at the end
  CHECK(cudaGetDevice(&caller));
  for (int32_t a = 0; a < n; ++a)
    for (int32_t b = 0; b < n; ++b) {
      if (devices[a] == devices[b]) continue;
      int can = 0;
      CHECK(cudaDeviceCanAccessPeer(&can, devices[a], devices[b]));
      if (!can)
        throw std::runtime_error("one-shot all-reduce: GPU " + std::to_string(devices[a]) + " cannot reach GPU " +
                                 std::to_string(devices[b]) + "'s memory (no peer access)");
      CHECK(cudaSetDevice(devices[a]));
      const cudaError_t e = cudaDeviceEnablePeerAccess(devices[b], 0);
      if (e == cudaErrorPeerAccessAlreadyEnabled) {
        cudaGetLastError();  // clear it: enabling twice is fine
      } else {
        CHECK(e);
      }
    }
  std::vector<std::unique_ptr<OneShotAllReduce>> ranks;
  std::vector<void*> regions;
  for (int32_t r = 0; r < n; ++r) {
    ranks.push_back(std::make_unique<OneShotAllReduce>(r, n, max_bytes, devices[r]));
    regions.push_back(ranks.back()->region());
  }
  for (auto& rank : ranks) rank->connect(regions);
  CHECK(cudaSetDevice(caller));
  return ranks;
}

namespace {

class OneShotCommunicator : public DeviceCommunicator {
 public:
  OneShotCommunicator(std::unique_ptr<OneShotAllReduce> one_shot, std::unique_ptr<DeviceCommunicator> fallback,
                      size_t threshold)
      : one_shot_(std::move(one_shot)), fallback_(std::move(fallback)),
        threshold_(std::min(threshold, one_shot_->max_bytes())) {}
  int32_t rank() const override { return fallback_->rank(); }
  int32_t size() const override { return fallback_->size(); }
  bool capturable() const override { return fallback_->capturable(); }
  void all_reduce_sum(void* data, int64_t count, DeviceDType dtype, void* stream) override {
    const size_t bytes = static_cast<size_t>(count) * (dtype == DeviceDType::BF16 ? 2 : 4);
    if (bytes <= threshold_ && bytes % 16 == 0 && reinterpret_cast<uintptr_t>(data) % 16 == 0) {
      one_shot_->all_reduce_sum(data, count, dtype, stream);
    } else {
      fallback_->all_reduce_sum(data, count, dtype, stream);
    }
  }

 private:
  std::unique_ptr<OneShotAllReduce> one_shot_;
  std::unique_ptr<DeviceCommunicator> fallback_;
  size_t threshold_;
};

}  // namespace

std::unique_ptr<DeviceCommunicator> make_one_shot_communicator(std::unique_ptr<OneShotAllReduce> one_shot,
                                                               std::unique_ptr<DeviceCommunicator> fallback,
                                                               size_t threshold_bytes) {
  if (!one_shot || !fallback) throw std::invalid_argument("one-shot communicator: needs both paths");
  return std::make_unique<OneShotCommunicator>(std::move(one_shot), std::move(fallback), threshold_bytes);
}

}  // namespace troupe
