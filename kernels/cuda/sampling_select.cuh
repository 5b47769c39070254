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
#include <cstdint>

#include <cub/block/block_scan.cuh>  // cub::BlockScan

#include "kernels/cuda/sampling_block.cuh"  // order_key, Filter, Weigher, RowStats, SelectShared, for_each_logit

namespace troupe::cuda::sampling_detail {

// What the walk looks for: the k-th candidate (count), or the first candidate whose inclusive
// running mass reaches (top-p: ">=") or exceeds (the draw: ">") target_scale * total mass.
enum class Goal { kCount, kMassReaches, kMassExceeds };

struct Selected {
  Cut cut;
  double total_mass;  // of all candidates at the first level: the normalizer the CPU divides by
};

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
