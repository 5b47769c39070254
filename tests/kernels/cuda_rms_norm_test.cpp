// The fused add + RMSNorm kernel against the CPU reference, in bf16 tolerance.
#include <gtest/gtest.h>

#include "cuda_test_device.h"

#include <cmath>
#include <random>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/cpu/norm.h"
#include "kernels/cuda/rms_norm.h"

namespace {

TEST(CudaFusedAddRmsNorm, MatchesCpuReference) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  const int64_t tokens = 7, dim = 4096;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  std::vector<__nv_bfloat16> res(tokens * dim), x(tokens * dim), w(dim);
  for (auto& v : res) v = __float2bfloat16(normal(rng));
  for (auto& v : x) v = __float2bfloat16(normal(rng));
  for (auto& v : w) v = __float2bfloat16(1.0f + 0.1f * normal(rng));

  // Reference: the bf16-rounded sum, normed in fp32.
  std::vector<float> sum(tokens * dim), wf(dim), expect(tokens * dim);
  for (int64_t i = 0; i < tokens * dim; ++i)
    sum[i] = __bfloat162float(__float2bfloat16(__bfloat162float(res[i]) + __bfloat162float(x[i])));
  for (int64_t i = 0; i < dim; ++i) wf[i] = __bfloat162float(w[i]);
  troupe::cpu::rms_norm(expect.data(), sum.data(), wf.data(), tokens, dim, 1e-5f);

  __nv_bfloat16 *d_out, *d_res, *d_x, *d_w;
  const size_t bytes = tokens * dim * sizeof(__nv_bfloat16);
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d_out), bytes), cudaSuccess);
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d_res), bytes), cudaSuccess);
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d_x), bytes), cudaSuccess);
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d_w), dim * sizeof(__nv_bfloat16)), cudaSuccess);
  cudaMemcpy(d_res, res.data(), bytes, cudaMemcpyHostToDevice);
  cudaMemcpy(d_x, x.data(), bytes, cudaMemcpyHostToDevice);
  cudaMemcpy(d_w, w.data(), dim * sizeof(__nv_bfloat16), cudaMemcpyHostToDevice);
  ASSERT_EQ(troupe::cuda::fused_add_rms_norm(d_out, d_res, d_x, d_w, tokens, dim, 1e-5f, nullptr), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<__nv_bfloat16> out(tokens * dim), res_after(tokens * dim);
  cudaMemcpy(out.data(), d_out, bytes, cudaMemcpyDeviceToHost);
  cudaMemcpy(res_after.data(), d_res, bytes, cudaMemcpyDeviceToHost);
  for (int64_t i = 0; i < tokens * dim; ++i) {
    ASSERT_EQ(__bfloat162float(res_after[i]), sum[i]) << "residual " << i;
    ASSERT_NEAR(__bfloat162float(out[i]), expect[i], 1e-2f * std::max(1.0f, std::abs(expect[i]))) << i;
  }
  cudaFree(d_out);
  cudaFree(d_res);
  cudaFree(d_x);
  cudaFree(d_w);
}

}  // namespace
