#include "kernels/cuda/gemm.h"

#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/skinny_gemm.h"

namespace troupe::cuda {

Gemm::Gemm(size_t workspace_bytes, bool skinny) : workspace_bytes_(workspace_bytes), skinny_(skinny) {
  TROUPE_CUDA_CHECK(cublasLtCreate(&handle_));
  TROUPE_CUDA_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
}

Gemm::~Gemm() {
  for (auto& [key, p] : plans_) {
    cublasLtMatrixLayoutDestroy(p.a);
    cublasLtMatrixLayoutDestroy(p.b);
    cublasLtMatrixLayoutDestroy(p.c);
    cublasLtMatmulDescDestroy(p.desc);
  }
  cudaFree(workspace_);
  cublasLtDestroy(handle_);
}

// Row-major y = x · w^T is column-major y^T = w^T' · x^T: A is w seen as a column-major [k, n]
// matrix, transposed; B is x as a column-major [k, m]; C is y as a column-major [n, m].
Gemm::Plan& Gemm::plan(int64_t m, int64_t n, int64_t k, bool f32_out, bool bias) {
  const Key key{m, n, k, f32_out, bias};
  if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  Plan p;
  TROUPE_CUDA_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
  TROUPE_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof transa));
  TROUPE_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof transb));
  if (bias) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    TROUPE_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue));
    const cudaDataType_t bias_type = CUDA_R_16BF;
    TROUPE_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                                     sizeof bias_type));
  }
  const cudaDataType_t out_type = f32_out ? CUDA_R_32F : CUDA_R_16BF;
  TROUPE_CUDA_CHECK(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, k, n, k));
  TROUPE_CUDA_CHECK(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, k, m, k));
  TROUPE_CUDA_CHECK(cublasLtMatrixLayoutCreate(&p.c, out_type, n, m, n));

  p.algo = algorithms(p, 1, m, n, k).front();
  return plans_.emplace(key, p).first->second;
}

std::vector<cublasLtMatmulAlgo_t> Gemm::algorithms(const Plan& p, int count, int64_t m, int64_t n, int64_t k) {
  cublasLtMatmulPreference_t pref = nullptr;
  TROUPE_CUDA_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  TROUPE_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                         &workspace_bytes_, sizeof workspace_bytes_));
  std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<size_t>(count));
  int found = 0;
  const cublasStatus_t status =
      cublasLtMatmulAlgoGetHeuristic(handle_, p.desc, p.a, p.b, p.c, p.c, pref, count, results.data(), &found);
  cublasLtMatmulPreferenceDestroy(pref);
  TROUPE_CUDA_CHECK(status);
  if (found == 0)
    throw CudaError("cublasLtMatmulAlgoGetHeuristic found no algorithm for m=" + std::to_string(m) +
                    " n=" + std::to_string(n) + " k=" + std::to_string(k));
  std::vector<cublasLtMatmulAlgo_t> out;
  for (int i = 0; i < found; ++i) out.push_back(results[static_cast<size_t>(i)].algo);
  return out;
}

Gemm::Tuning Gemm::tune(__nv_bfloat16* y, const __nv_bfloat16* x, const __nv_bfloat16* w, const __nv_bfloat16* bias,
                        int64_t m, int64_t n, int64_t k, int candidates, cudaStream_t stream) {
  if (m == 0 || (skinny_ && m == 1 && k % 8 == 0)) return {};
  Plan& p = plan(m, n, k, false, bias != nullptr);
  if (bias)
    TROUPE_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
  const std::vector<cublasLtMatmulAlgo_t> algos = algorithms(p, candidates, m, n, k);
  cudaEvent_t start = nullptr, stop = nullptr;
  TROUPE_CUDA_CHECK(cudaEventCreate(&start));
  TROUPE_CUDA_CHECK(cudaEventCreate(&stop));
  const float alpha = 1.0f, beta = 0.0f;
  Tuning t;
  for (size_t i = 0; i < algos.size(); ++i) {
    constexpr int kRuns = 5;
    float best = 0;
    for (int r = 0; r <= kRuns; ++r) {  // run 0 warms up
      TROUPE_CUDA_CHECK(cudaEventRecord(start, stream));
      const cublasStatus_t status = cublasLtMatmul(handle_, p.desc, &alpha, w, p.a, x, p.b, &beta, y, p.c, y, p.c,
                                                   &algos[i], workspace_, workspace_bytes_, stream);
      if (status != CUBLAS_STATUS_SUCCESS) break;  // an algorithm the heuristic offered but cannot run here
      TROUPE_CUDA_CHECK(cudaEventRecord(stop, stream));
      TROUPE_CUDA_CHECK(cudaEventSynchronize(stop));
      float ms = 0;
      TROUPE_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
      if (r > 0 && (best == 0 || ms * 1e3f < best)) best = ms * 1e3f;
    }
    if (best == 0) continue;
    ++t.tried;
    if (i == 0) t.heuristic_us = best;
    if (t.best_us == 0 || best < t.best_us) {
      t.best_us = best;
      t.best = static_cast<int>(i);
      p.algo = algos[i];
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return t;
}

void Gemm::run(void* y, const void* x, const void* w, const void* bias, int64_t m, int64_t n, int64_t k,
               bool f32_out, cudaStream_t stream) {
  if (m == 0) return;
  if (skinny_ && m == 1 && k % 8 == 0) {
    auto* yb = f32_out ? nullptr : static_cast<__nv_bfloat16*>(y);
    auto* yf = f32_out ? static_cast<float*>(y) : nullptr;
    TROUPE_CUDA_CHECK(skinny_gemm(yb, yf, static_cast<const __nv_bfloat16*>(x), static_cast<const __nv_bfloat16*>(w),
                                  static_cast<const __nv_bfloat16*>(bias), m, n, k, stream));
    return;
  }
  const Plan& p = plan(m, n, k, f32_out, bias != nullptr);
  if (bias)
    TROUPE_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
  const float alpha = 1.0f, beta = 0.0f;
  TROUPE_CUDA_CHECK(cublasLtMatmul(handle_, p.desc, &alpha, w, p.a, x, p.b, &beta, y, p.c, y, p.c, &p.algo,
                                   workspace_, workspace_bytes_, stream));
}

void Gemm::linear(__nv_bfloat16* y, const __nv_bfloat16* x, const __nv_bfloat16* w, const __nv_bfloat16* bias,
                  int64_t m, int64_t n, int64_t k, cudaStream_t stream) {
  run(y, x, w, bias, m, n, k, false, stream);
}

void Gemm::linear_f32(float* y, const __nv_bfloat16* x, const __nv_bfloat16* w, int64_t m, int64_t n, int64_t k,
                      cudaStream_t stream) {
  run(y, x, w, nullptr, m, n, k, true, stream);
}

}  // namespace troupe::cuda
