#include "kernels/cpu/gemm.h"

#include <cblas.h>  // cblas_sgemm, openblas_set_num_threads

namespace troupe::cpu {

void linear(float* y, const float* x, const float* w, const float* bias, int64_t m, int64_t n,
            int64_t k) {
  float beta = 0.0f;
  if (bias != nullptr) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) y[i * n + j] = bias[j];
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0f, x, static_cast<int>(k), w, static_cast<int>(k), beta, y,
              static_cast<int>(n));
}

void set_gemm_threads(int threads) {
  if (threads > 0) openblas_set_num_threads(threads);
}

}  // namespace troupe::cpu
