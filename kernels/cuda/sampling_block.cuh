#pragma once
// The one-block-per-row sampler's shared ground: the candidate order as integer keys, what makes
// an element a candidate (cuts, min-p) and what it weighs, the block's shared storage, and the
// whole-row passes (stats, candidate mass) that sampling.cu runs before or beside a walk.
// Apart from the walk (sampling_select.cuh) because these define the order and the weights that
// must match the CPU sampler; the walk only finds a position in that order.
//
// Invariants: every function here is called by all kThreads threads of the block (they contain
// __syncthreads); a weight is fp64 exp(z - z_max) exactly as the CPU computes it.
#include <cfloat>
#include <climits>
#include <cstdint>

#include <cub/block/block_reduce.cuh>  // cub::BlockReduce
#include <cub/block/block_scan.cuh>    // cub::BlockScan

namespace troupe::cuda::sampling_detail {

constexpr int kThreads = 512;
constexpr int kBins = kThreads;  // the scan gives each thread one bin
constexpr int kCap = kThreads;   // ... and, once compacted, one element

// Total order of floats as unsigned integers: larger float, larger key.
__device__ __forceinline__ uint32_t order_key(float x) {
  const uint32_t u = __float_as_uint(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float key_value(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// A position in the candidate order: the last element a filter keeps.
struct Cut {
  uint32_t key;
  int32_t index;
};
constexpr Cut kKeepAll = {0u, INT32_MAX};
__device__ __forceinline__ bool kept_by(Cut c, uint32_t key, int32_t i) {
  return key > c.key || (key == c.key && i <= c.index);
}

// exp(float(x / T) - z_max) in fp64, the CPU's unnormalized probability, bit for bit up to the
// last-ulp difference between CUDA's and glibc's exp.
struct Weigher {
  float temperature;
  double z_max;
  __device__ double operator()(float x) const {
    return exp(static_cast<double>(__fdiv_rn(x, temperature)) - z_max);
  }
};

// Which elements are still candidates. Top-k and top-p are prefixes of the order (cuts); min-p is
// a threshold on the mass, w / total >= min_p * p_max, also a prefix since w falls along it.
struct Filter {
  Cut top_k = kKeepAll;
  Cut top_p = kKeepAll;
  double min_p_floor = 0.0;  // 0: off
  double total = 1.0;
  __device__ bool cuts_keep(uint32_t key, int32_t i) const {
    return kept_by(top_k, key, i) && kept_by(top_p, key, i);
  }
  __device__ bool min_p_keeps(double w) const { return min_p_floor <= 0.0 || w / total >= min_p_floor; }
};

struct RowStats {
  float max;          // largest logit
  int32_t argmax;     // its lowest index (INT32_MAX: empty)
  uint32_t key_min;   // order_key range of the row
  uint32_t key_max;
  float sum_exp;      // sum of exp(x - max), only when asked for
};

struct SelectShared {
  uint32_t count[kBins];
  uint32_t mass_w[3][kBins];  // bin mass * 2^63 as a 96-bit integer, low word first
  uint32_t key_lo[kBins];
  uint32_t key_hi[kBins];
  uint64_t sorted[kCap];  // (~key << 32 | index): ascending is the candidate order
  union {
    cub::BlockScan<uint32_t, kThreads>::TempStorage scan_count;
    cub::BlockScan<double, kThreads>::TempStorage scan_mass;
    cub::BlockReduce<double, kThreads>::TempStorage reduce_mass;
    cub::BlockReduce<RowStats, kThreads>::TempStorage reduce_stats;
  } temp;
  int32_t hit;
  uint32_t list_size;
  uint32_t next_lo, next_hi, next_count, next_acc_count;
  double next_acc_mass;
  RowStats stats;
  double mass_sum;
  Cut found;
};

// Calls f(index, value) for every element of row[0, n), in no particular order. One block reads a
// whole row, so its passes are bound by load latency: issuing kUnroll float4 loads together took
// a lone row's max pass from 31 to 26 us (H100); one SM cannot hold enough loads in flight for
// much more (sampling.cu's header has the numbers).
template <class F>
__device__ __forceinline__ void for_each_logit(const float* row, int32_t n, F&& f) {
  constexpr int kUnroll = 4;
  int32_t done = 0;
  if ((reinterpret_cast<uintptr_t>(row) & 15u) == 0) {
    const int32_t n4 = n / 4;
    const float4* row4 = reinterpret_cast<const float4*>(row);
    int32_t j = threadIdx.x;
    for (; j + (kUnroll - 1) * kThreads < n4; j += kUnroll * kThreads) {
      float4 v[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) v[u] = row4[j + u * kThreads];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int32_t i = 4 * (j + u * kThreads);
        f(i, v[u].x);
        f(i + 1, v[u].y);
        f(i + 2, v[u].z);
        f(i + 3, v[u].w);
      }
    }
    for (; j < n4; j += kThreads) {
      const float4 v = row4[j];
      f(4 * j, v.x);
      f(4 * j + 1, v.y);
      f(4 * j + 2, v.z);
      f(4 * j + 3, v.w);
    }
    done = 4 * n4;
  }
  for (int32_t i = done + threadIdx.x; i < n; i += kThreads) f(i, row[i]);
}

__device__ __forceinline__ RowStats combine(const RowStats& a, const RowStats& b) {
  RowStats r;
  const bool take_b = b.argmax != INT32_MAX &&
                      (a.argmax == INT32_MAX || b.max > a.max || (b.max == a.max && b.argmax < a.argmax));
  r.max = take_b ? b.max : a.max;
  r.argmax = take_b ? b.argmax : a.argmax;
  r.key_min = min(a.key_min, b.key_min);
  r.key_max = max(a.key_max, b.key_max);
  // Rescale both partial sums to the common max; an empty side contributes nothing (and no NaN).
  const float ea = a.sum_exp == 0.0f ? 0.0f : a.sum_exp * expf(a.max - r.max);
  const float eb = b.sum_exp == 0.0f ? 0.0f : b.sum_exp * expf(b.max - r.max);
  r.sum_exp = ea + eb;
  return r;
}

// Max (first index on ties, like std::max_element), key range and optionally sum(exp(x - max)).
__device__ RowStats block_row_stats(SelectShared& sh, const float* row, int32_t n, bool with_sum) {
  RowStats s{-INFINITY, INT32_MAX, UINT32_MAX, 0u, 0.0f};
  for_each_logit(row, n, [&](int32_t i, float x) {
    const uint32_t k = order_key(x);
    s.key_min = min(s.key_min, k);
    s.key_max = max(s.key_max, k);
    if (with_sum && x != -INFINITY) {
      if (x > s.max) {
        s.sum_exp = (s.sum_exp == 0.0f ? 0.0f : s.sum_exp * expf(s.max - x)) + 1.0f;
      } else {
        s.sum_exp += expf(x - s.max);
      }
    }
    // Each thread visits its indices in increasing order, so ">" keeps the first maximum.
    if (s.argmax == INT32_MAX || x > s.max || (x == s.max && i < s.argmax)) {
      s.max = x;
      s.argmax = i;
    }
  });
  s = cub::BlockReduce<RowStats, kThreads>(sh.temp.reduce_stats)
          .Reduce(s, [](const RowStats& a, const RowStats& b) { return combine(a, b); });
  if (threadIdx.x == 0) sh.stats = s;
  __syncthreads();
  s = sh.stats;
  __syncthreads();
  return s;
}

// Sum of w over the candidates of `f` (min-p not applied: it needs this sum first).
__device__ double block_mass(SelectShared& sh, const float* row, int32_t n, const Filter& f,
                             const Weigher& wg) {
  double m = 0.0;
  for_each_logit(row, n, [&](int32_t i, float x) {
    if (f.cuts_keep(order_key(x), i)) m += wg(x);
  });
  m = cub::BlockReduce<double, kThreads>(sh.temp.reduce_mass).Sum(m);
  if (threadIdx.x == 0) sh.mass_sum = m;
  __syncthreads();
  m = sh.mass_sum;
  __syncthreads();
  return m;
}

}  // namespace troupe::cuda::sampling_detail
