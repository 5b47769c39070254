// The fused add + RMSNorm kernel against the CPU reference, in bf16 tolerance, through both of its
// paths (a row held in registers as 16-byte vectors; one element at a time for other widths).
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

// with_x false: the first layer's call, which only norms the residual.
void check(int64_t tokens, int64_t dim, bool with_x) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  std::vector<__nv_bfloat16> res(tokens * dim), x(tokens * dim), w(dim);
  for (auto& v : res) v = __float2bfloat16(normal(rng));
  for (auto& v : x) v = __float2bfloat16(normal(rng));
  for (auto& v : w) v = __float2bfloat16(1.0f + 0.1f * normal(rng));

  // Reference: the bf16-rounded sum, normed in fp32.
  std::vector<float> sum(tokens * dim), wf(dim), expect(tokens * dim);
  for (int64_t i = 0; i < tokens * dim; ++i)
    sum[i] = with_x ? __bfloat162float(__float2bfloat16(__bfloat162float(res[i]) + __bfloat162float(x[i])))
                    : __bfloat162float(res[i]);
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
  ASSERT_EQ(troupe::cuda::fused_add_rms_norm(d_out, d_res, with_x ? d_x : nullptr, d_w, tokens, dim, 1e-5f, nullptr),
            cudaSuccess);
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

TEST(CudaFusedAddRmsNorm, MatchesCpuReference) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  check(7, 4096, true);   // Llama-3-8B's width: the vector path
  check(3, 8192, true);   // the widest row the vector path keeps in registers
  check(2, 4096, false);  // the first layer: nothing to add
}

TEST(CudaFusedAddRmsNorm, ScalarPathMatchesCpuReference) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  check(5, 1001, true);   // not a whole number of vectors
  check(2, 12288, true);  // wider than the registers hold
}

}  // namespace
