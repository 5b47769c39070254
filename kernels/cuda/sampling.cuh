#pragma once
// Device half of sampling.cu: one thread block owns one row and finds, without sorting the row,
// the element where a running count or running probability mass crosses a target, walking the
// row in the CPU sampler's order (logit descending, index ascending among equal logits).
//
// How: a histogram of the candidates over kBins value bins (count, mass, key range per bin),
// a block scan from the top bin down picks the bin where the target is crossed, and that bin is
// either small enough (<= kCap elements) to sort exactly in shared memory, or becomes the range of
// the next histogram. Each level reads the row once (from L2 for a 0.5 MB row); two levels
// suffice for a 152k vocabulary unless thousands of logits are equal, which has its own path.
//
// Invariants: every function here is called by all kThreads threads of the block (they contain
// __syncthreads); a weight is fp64 exp(z - z_max) exactly as the CPU computes it; only how the
// weights are summed differs (fixed point per bin, then fp64 over bins, instead of one loop).
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

// What the walk looks for: the k-th candidate (count), or the first candidate whose inclusive
// running mass reaches (top-p: ">=") or exceeds (the draw: ">") target_scale * total mass.
enum class Goal { kCount, kMassReaches, kMassExceeds };

struct RowStats {
  float max;          // largest logit
  int32_t argmax;     // its lowest index (INT32_MAX: empty)
  uint32_t key_min;   // order_key range of the row
  uint32_t key_max;
  float sum_exp;      // sum of exp(x - max), only when asked for
};

struct Selected {
  Cut cut;
  double total_mass;  // of all candidates at the first level: the normalizer the CPU divides by
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

__device__ __forceinline__ bool reached(Goal g, double have, double target) {
  return g == Goal::kMassExceeds ? have > target : have >= target;
}

// Maps keys in [key_lo, key_hi] to kBins bins, monotone in the key. Linear in the value where the
// range is finite (logits crowd near the top, where key space is coarse), else linear in the key.
// Values below `floor` share bin 0: at the first level that keeps a few far-below outliers (masked
// tokens at -1e9) from squeezing every real candidate into one bin.
struct Binner {
  bool by_value;
  float lo, scale;
  uint32_t key_lo;
  uint32_t key_width;
  __device__ int operator()(uint32_t k, float x) const {
    if (by_value) return static_cast<int>(fminf(fmaxf((x - lo) * scale, 0.0f), kBins - 1.0f));
    return static_cast<int>((k - key_lo) / key_width);
  }
};
__device__ __forceinline__ Binner make_binner(uint32_t key_lo, uint32_t key_hi, float floor) {
  Binner b;
  b.key_lo = key_lo;
  b.key_width = static_cast<uint32_t>((static_cast<uint64_t>(key_hi - key_lo)) / kBins + 1);
  b.lo = fmaxf(key_value(key_lo), floor);
  const float hi = key_value(key_hi);
  b.scale = static_cast<float>(kBins) / (hi - b.lo);
  b.by_value = isfinite(b.lo) && isfinite(hi) && hi > b.lo && isfinite(b.scale) && b.scale > 0.0f;
  return b;
}

// Bin masses are summed as integers in units of 2^-63 (w <= 1, so one weight fits 64 bits; a bin
// of up to 2^32 weights fits 96). fp64 atomicAdd on shared memory is a compare-and-swap loop on
// sm_90 (ATOMS.CAST.SPIN.64); three native 32-bit adds carrying into each other made a T=1 row
// 1.4x faster, and an integer sum does not depend on the order threads arrive in, so a row draws
// the same token on every run. The rounding, 2^-64 per weight, is below the CPU's own fp64 sum's.
__device__ __forceinline__ void add_fixed_mass(SelectShared& sh, int b, double w) {
  const unsigned long long v = __double2ull_rn(w * 0x1p63);
  const uint32_t low = static_cast<uint32_t>(v);
  const uint32_t carry = atomicAdd(&sh.mass_w[0][b], low) + low < low;  // the add wrapped
  const uint32_t mid = static_cast<uint32_t>(v >> 32) + carry;            // <= 2^31 + 1
  if (mid == 0) return;
  const uint32_t old = atomicAdd(&sh.mass_w[1][b], mid);
  if (old + mid < old) atomicAdd(&sh.mass_w[2][b], 1u);
}
__device__ __forceinline__ double fixed_mass(const SelectShared& sh, int b) {
  return sh.mass_w[2][b] * 0x1p1 + sh.mass_w[1][b] * 0x1p-31 + sh.mass_w[0][b] * 0x1p-63;
}

// Ascending bitonic sort of sh.sorted[0, width), width a power of two <= kCap.
__device__ void block_bitonic_sort(uint64_t* v, uint32_t width) {
  const uint32_t t = threadIdx.x;
  for (uint32_t k = 2; k <= width; k <<= 1) {
    for (uint32_t j = k >> 1; j > 0; j >>= 1) {
      const uint32_t p = t ^ j;
      if (t < width && p > t) {
        const uint64_t a = v[t], b = v[p];
        if ((a > b) == ((t & k) == 0)) {
          v[t] = b;
          v[p] = a;
        }
      }
      __syncthreads();
    }
  }
}

// Where a walk currently stands: candidates in [lo, hi] are left, `acc_*` lie above them.
struct Walk {
  const float* row;
  int32_t n;
  Filter f;
  Weigher wg;
  Goal goal;
  bool by_count;  // compare running counts (Goal::kCount, or a mass target never reached)
  double target;
  uint32_t acc_count;
  double acc_mass;
  __device__ bool weighted() const { return goal != Goal::kCount; }
  __device__ bool needs_weight() const { return weighted() || f.min_p_floor > 0.0; }
  __device__ bool candidate(uint32_t k, int32_t i, float x, double* w) const {
    if (!f.cuts_keep(k, i)) return false;
    if (!needs_weight()) return true;
    *w = wg(x);
    return f.min_p_keeps(*w);
  }
};

// The range holds at most kCap candidates: gather them, sort them in the candidate order, scan.
__device__ Cut resolve_sorted(SelectShared& sh, const Walk& wk, uint32_t lo, uint32_t hi) {
  const uint32_t t = threadIdx.x;
  if (t == 0) sh.list_size = 0;
  __syncthreads();
  for_each_logit(wk.row, wk.n, [&](int32_t i, float x) {
    const uint32_t k = order_key(x);
    double w = 0.0;
    if (k < lo || k > hi || !wk.candidate(k, i, x, &w)) return;
    const uint32_t pos = atomicAdd(&sh.list_size, 1u);
    if (pos < kCap) sh.sorted[pos] = (static_cast<uint64_t>(~k) << 32) | static_cast<uint32_t>(i);
  });
  __syncthreads();
  const uint32_t size = min(sh.list_size, static_cast<uint32_t>(kCap));
  uint32_t width = 2;
  while (width < size) width <<= 1;
  if (t >= size && t < width) sh.sorted[t] = UINT64_MAX;
  __syncthreads();
  block_bitonic_sort(sh.sorted, width);
  const uint64_t e = t < size ? sh.sorted[t] : UINT64_MAX;
  const uint32_t k = ~static_cast<uint32_t>(e >> 32);
  const int32_t i = static_cast<int32_t>(e & 0xffffffffu);
  const double w = t < size && wk.weighted() ? wk.wg(key_value(k)) : 0.0;
  double w_before;
  cub::BlockScan<double, kThreads>(sh.temp.scan_mass).ExclusiveSum(w, w_before);
  const bool hit = t < size && (wk.by_count ? static_cast<double>(wk.acc_count + t + 1) >= wk.target
                                            : reached(wk.goal, wk.acc_mass + w_before + w, wk.target));
  if (t == 0) sh.hit = kThreads;
  __syncthreads();
  if (hit) atomicMin(&sh.hit, static_cast<int32_t>(t));
  __syncthreads();
  // Not reached inside the bin only when its exact sum rounds below the histogram's: last one.
  const uint32_t chosen = sh.hit < kThreads ? static_cast<uint32_t>(sh.hit) : size - 1;
  if (t == chosen) sh.found = Cut{k, i};
  __syncthreads();
  const Cut c = sh.found;
  __syncthreads();
  return c;
}

// Every remaining candidate has logit key `key` (hence one weight): count how many the walk
// passes, then find that one in index order with a block scan over the row.
__device__ Cut resolve_ties(SelectShared& sh, const Walk& wk, uint32_t key, uint32_t n_ties) {
  const uint32_t t = threadIdx.x;
  double j;
  if (wk.by_count) {
    j = wk.target - wk.acc_count;
  } else {
    const double w = wk.wg(key_value(key));
    const double need = (wk.target - wk.acc_mass) / w;
    j = wk.goal == Goal::kMassExceeds ? floor(need) + 1.0 : ceil(need);
  }
  const uint32_t want = !(j >= 1.0) ? 1u : j >= n_ties ? n_ties : static_cast<uint32_t>(j);
  if (t == 0) sh.found = Cut{key, INT32_MAX};
  uint32_t seen = 0;
  for (int32_t base = 0; base < wk.n; base += kThreads) {
    const int32_t i = base + static_cast<int32_t>(t);
    uint32_t flag = 0;
    double w = 0.0;
    if (i < wk.n) {
      const float x = wk.row[i];
      flag = order_key(x) == key && wk.candidate(key, i, x, &w);
    }
    uint32_t rank, tile;
    cub::BlockScan<uint32_t, kThreads>(sh.temp.scan_count).ExclusiveSum(flag, rank, tile);
    if (flag && seen + rank + 1 == want) sh.found = Cut{key, i};
    seen += tile;
    __syncthreads();
    if (seen >= want) break;
  }
  const Cut c = sh.found;
  __syncthreads();
  return c;
}

// The candidate (of `f`) where the walk in candidate order reaches `goal`. For mass goals the
// target is target_arg times the candidates' total mass, which this also returns.
__device__ Selected block_select(SelectShared& sh, const float* row, int32_t n, const RowStats& st,
                                 const Filter& f, const Weigher& wg, Goal goal, double target_arg,
                                 float floor) {
  const uint32_t t = threadIdx.x;
  Walk wk{row, n, f, wg, goal, goal == Goal::kCount, target_arg, 0u, 0.0};
  double total_mass = 0.0;
  uint32_t lo = st.key_min, hi = st.key_max;
  for (int level = 0;; ++level) {
    const Binner bn = make_binner(lo, hi, level == 0 ? floor : -INFINITY);
    sh.count[t] = 0;
    sh.mass_w[0][t] = sh.mass_w[1][t] = sh.mass_w[2][t] = 0;
    sh.key_lo[t] = UINT32_MAX;
    sh.key_hi[t] = 0;
    __syncthreads();
    for_each_logit(row, n, [&](int32_t i, float x) {
      const uint32_t k = order_key(x);
      double w = 0.0;
      if (k < lo || k > hi || !wk.candidate(k, i, x, &w)) return;
      const int b = bn(k, x);
      atomicAdd(&sh.count[b], 1u);
      if (wk.weighted()) add_fixed_mass(sh, b, w);
      atomicMin(&sh.key_lo[b], k);
      atomicMax(&sh.key_hi[b], k);
    });
    __syncthreads();
    const int b = kBins - 1 - static_cast<int>(t);  // thread 0 holds the top bin
    const uint32_t c = sh.count[b];
    const double m = fixed_mass(sh, b);
    uint32_t c_before, c_total;
    cub::BlockScan<uint32_t, kThreads>(sh.temp.scan_count).ExclusiveSum(c, c_before, c_total);
    __syncthreads();
    double m_before = 0.0, m_total = 0.0;
    if (wk.weighted()) {
      cub::BlockScan<double, kThreads>(sh.temp.scan_mass).ExclusiveSum(m, m_before, m_total);
      __syncthreads();
    }
    if (level == 0 && wk.weighted()) {
      total_mass = m_total;
      wk.target = target_arg * m_total;
      // Never reached (rounding, or top_p above the mass): the CPU's loops end on the last one.
      if (!reached(goal, m_total, wk.target)) {
        wk.by_count = true;
        wk.target = c_total;
      }
    }
    const bool hit = c > 0 && (wk.by_count ? static_cast<double>(wk.acc_count + c_before + c) >= wk.target
                                           : reached(goal, wk.acc_mass + m_before + m, wk.target));
    if (t == 0) {
      sh.hit = kBins;
      sh.next_count = 0;
    }
    __syncthreads();
    if (hit) atomicMin(&sh.hit, static_cast<int32_t>(t));
    if (c > 0) atomicMax(&sh.next_count, t);  // the last non-empty bin, for a walk never reached
    __syncthreads();
    const uint32_t chosen = sh.hit < kBins ? static_cast<uint32_t>(sh.hit) : sh.next_count;
    __syncthreads();
    if (t == chosen) {
      sh.next_lo = sh.key_lo[b];
      sh.next_hi = sh.key_hi[b];
      sh.next_count = c;
      sh.next_acc_count = wk.acc_count + c_before;
      sh.next_acc_mass = wk.acc_mass + m_before;
    }
    __syncthreads();
    lo = sh.next_lo;
    hi = sh.next_hi;
    const uint32_t in_bin = sh.next_count;
    wk.acc_count = sh.next_acc_count;
    wk.acc_mass = sh.next_acc_mass;
    __syncthreads();
    if (in_bin <= kCap) return {resolve_sorted(sh, wk, lo, hi), total_mass};
    if (lo == hi) return {resolve_ties(sh, wk, lo, in_bin), total_mass};
  }
}

}  // namespace troupe::cuda::sampling_detail
