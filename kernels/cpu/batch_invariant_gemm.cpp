#include "kernels/cpu/batch_invariant_gemm.h"

#include <omp.h>

#include <algorithm>

namespace troupe::cpu {
namespace {

typedef float v8 __attribute__((vector_size(32)));  // eight lanes; two SSE registers without AVX
// The same, loadable from any float's address.
typedef float v8_unaligned __attribute__((vector_size(32), aligned(4), may_alias));

[[gnu::always_inline]] inline v8 load8(const float* p) { return *reinterpret_cast<const v8_unaligned*>(p); }

// The fixed lane tree, then the tail in k order, then the bias: the one way every output ends.
[[gnu::always_inline]] inline float finish(v8 acc, const float* x, const float* w, int64_t k8, int64_t k,
                                           const float* bias, int64_t j) {
  float s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
  for (int64_t e = k8; e < k; ++e) s += x[e] * w[e];
  return bias != nullptr ? s + bias[j] : s;
}

// y[i0 .. i0 + RI, j0 .. j0 + RJ): RI x RJ accumulators, each fed exactly as a 1 x 1 tile's.
template <int RI, int RJ>
[[gnu::always_inline]] inline void tile(float* y, const float* x, const float* w, const float* bias, int64_t n,
                                        int64_t k, int64_t i0, int64_t j0) {
  const int64_t k8 = k - k % 8;
  v8 acc[RI][RJ] = {};
  for (int64_t e = 0; e < k8; e += 8) {
    v8 xv[RI];
    for (int a = 0; a < RI; ++a) xv[a] = load8(x + (i0 + a) * k + e);
    for (int b = 0; b < RJ; ++b) {
      const v8 wv = load8(w + (j0 + b) * k + e);
      for (int a = 0; a < RI; ++a) acc[a][b] += xv[a] * wv;
    }
  }
  for (int a = 0; a < RI; ++a)
    for (int b = 0; b < RJ; ++b)
      y[(i0 + a) * n + j0 + b] = finish(acc[a][b], x + (i0 + a) * k, w + (j0 + b) * k, k8, k, bias, j0 + b);
}

// Columns [j_begin, j_end) for every row: a block of w stays in cache while the rows pass over it.
[[gnu::always_inline]] inline void column_block(float* y, const float* x, const float* w, const float* bias,
                                                int64_t m, int64_t n, int64_t k, int64_t j_begin, int64_t j_end) {
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) {
    int64_t j = j_begin;
    for (; j + 2 <= j_end; j += 2) tile<4, 2>(y, x, w, bias, n, k, i, j);
    for (; j < j_end; ++j) tile<4, 1>(y, x, w, bias, n, k, i, j);
  }
  for (; i < m; ++i) {
    int64_t j = j_begin;
    for (; j + 2 <= j_end; j += 2) tile<1, 2>(y, x, w, bias, n, k, i, j);
    for (; j < j_end; ++j) tile<1, 1>(y, x, w, bias, n, k, i, j);
  }
}

// Column blocks spread over threads; which thread computes an output changes nothing in how. The
// loop is written in each driver (not in a shared inline function) because OpenMP outlines its
// body before inlining: a shared one would run baseline code under the AVX2 driver too.
constexpr int64_t kBlock = 64;
#define TROUPE_COLUMN_BLOCKS                                                                \
  const int64_t blocks = (n + kBlock - 1) / kBlock;                                         \
  _Pragma("omp parallel for num_threads(threads) schedule(static) if (threads > 1)")        \
  for (int64_t blk = 0; blk < blocks; ++blk)                                                \
    column_block(y, x, w, bias, m, n, k, blk * kBlock, std::min(n, (blk + 1) * kBlock));

__attribute__((target("avx2,fma"))) void run_avx2(float* y, const float* x, const float* w, const float* bias,
                                                  int64_t m, int64_t n, int64_t k, int threads) {
  TROUPE_COLUMN_BLOCKS
}

void run_baseline(float* y, const float* x, const float* w, const float* bias, int64_t m, int64_t n, int64_t k,
                  int threads) {
  TROUPE_COLUMN_BLOCKS
}
#undef TROUPE_COLUMN_BLOCKS

}  // namespace

void batch_invariant_linear(float* y, const float* x, const float* w, const float* bias, int64_t m, int64_t n,
                            int64_t k, int threads) {
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  (avx2 ? run_avx2 : run_baseline)(y, x, w, bias, m, n, k, std::max(1, threads));
}

}  // namespace troupe::cpu
