// silu_mul on the GPU against a CPU reference, through both of its paths (16-byte vectors when
// the width and pointers allow, one element at a time otherwise).
#include <gtest/gtest.h>

#include "cuda_test_device.h"

#include <cmath>
#include <random>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/cuda/elementwise.h"

namespace {

using bf16 = __nv_bfloat16;

// out[t, j] = bf16(bf16(silu(gate[t, j])) * up[t, j]), gate_up rows being [gate | up].
std::vector<float> reference(const std::vector<bf16>& gate_up, int64_t n, int64_t inter) {
  std::vector<float> out(n * inter);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < inter; ++j) {
      const float g = __bfloat162float(gate_up[t * 2 * inter + j]);
      const float u = __bfloat162float(gate_up[t * 2 * inter + inter + j]);
      const float s = __bfloat162float(__float2bfloat16(g / (1.0f + std::exp(-g))));
      out[t * inter + j] = __bfloat162float(__float2bfloat16(s * u));
    }
  return out;
}

// Runs silu_mul writing `out_offset` elements into its output buffer (an offset of 1 breaks the
// 16-byte alignment and forces the scalar path).
std::vector<float> run_gpu(const std::vector<bf16>& gate_up, int64_t n, int64_t inter, int64_t out_offset) {
  bf16 *d_in = nullptr, *d_out = nullptr;
  EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&d_in), gate_up.size() * sizeof(bf16)), cudaSuccess);
  EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&d_out), (n * inter + out_offset) * sizeof(bf16)), cudaSuccess);
  cudaMemcpy(d_in, gate_up.data(), gate_up.size() * sizeof(bf16), cudaMemcpyHostToDevice);
  EXPECT_EQ(troupe::cuda::silu_mul(d_out + out_offset, d_in, n, inter, nullptr), cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<bf16> out(n * inter);
  cudaMemcpy(out.data(), d_out + out_offset, out.size() * sizeof(bf16), cudaMemcpyDeviceToHost);
  cudaFree(d_in);
  cudaFree(d_out);
  std::vector<float> f(out.size());
  for (size_t i = 0; i < out.size(); ++i) f[i] = __bfloat162float(out[i]);
  return f;
}

std::vector<bf16> random_gate_up(int64_t n, int64_t inter) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<bf16> v(n * 2 * inter);
  for (auto& x : v) x = __float2bfloat16(normal(rng));
  return v;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    // The GPU's exp is the fast approximation: silu may round to the neighbouring bf16.
    ASSERT_NEAR(got[i], want[i], 1.6e-2f * std::max(1.0f, std::abs(want[i]))) << i;
}

TEST(CudaSiluMul, VectorPathMatchesCpuReference) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  const int64_t n = 5, inter = 14336;
  const auto gate_up = random_gate_up(n, inter);
  expect_close(run_gpu(gate_up, n, inter, 0), reference(gate_up, n, inter));
}

TEST(CudaSiluMul, ScalarPathMatchesCpuReferenceAndTheVectorPath) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  const int64_t n = 3, inter = 1000;
  const auto gate_up = random_gate_up(n, inter);
  const auto scalar = run_gpu(gate_up, n, inter, 1);
  expect_close(scalar, reference(gate_up, n, inter));
  EXPECT_EQ(scalar, run_gpu(gate_up, n, inter, 0));  // the same arithmetic either way
  const int64_t odd = 13;  // a width that is no whole number of vectors
  const auto gate_up_odd = random_gate_up(n, odd);
  expect_close(run_gpu(gate_up_odd, n, odd, 0), reference(gate_up_odd, n, odd));
}

}  // namespace
