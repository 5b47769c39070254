#include "kernels/cpu/gemm.h"

#include <omp.h>    // omp_get_max_threads

#include <cblas.h>  // cblas_sgemm, openblas_set_num_threads

namespace troupe::cpu {
namespace {

// Below about two million multiply-adds a second thread costs more to wake and join than it
// saves (measured: 25x slower tiny-model steps on a loaded 2-core machine), so small GEMMs run on
// the calling thread. The setting is global to OpenBLAS; one model runs on one thread at a time.
constexpr int64_t kParallelMacs = int64_t{1} << 21;
int g_max_threads = 0;      // 0: not read yet
int g_current_threads = 0;

void choose_threads(int64_t macs) {
  if (g_max_threads == 0) g_max_threads = omp_get_max_threads();
  const int want = macs < kParallelMacs ? 1 : g_max_threads;
  if (want != g_current_threads) {
    openblas_set_num_threads(want);
    g_current_threads = want;
  }
}

}  // namespace

void linear(float* y, const float* x, const float* w, const float* bias, int64_t m, int64_t n,
            int64_t k) {
  float beta = 0.0f;
  if (bias != nullptr) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) y[i * n + j] = bias[j];
    beta = 1.0f;
  }
  choose_threads(m * n * k);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0f, x, static_cast<int>(k), w, static_cast<int>(k), beta, y,
              static_cast<int>(n));
}

void set_gemm_threads(int threads) {
  if (threads <= 0) return;
  g_max_threads = threads;
  g_current_threads = 0;
}

}  // namespace troupe::cpu
