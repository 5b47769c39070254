// Gemm (the skinny weight-streaming kernel for small batches, cuBLASLt above) against an fp32
// CPU product of the same bf16-rounded inputs.
#include <gtest/gtest.h>

#include "cuda_test_device.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <functional>
#include <random>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/cuda/gemm.h"
#include "kernels/cuda/skinny_gemm.h"

namespace {

template <typename T>
T* upload(const std::vector<T>& v) {
  T* p = nullptr;
  EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&p), v.size() * sizeof(T)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  return p;
}

// y = x w^T (+ bias) into bf16 and fp32 outputs; Gemm by default, or a kernel given directly.
using Product = std::function<void(__nv_bfloat16* y, float* y_f32, const __nv_bfloat16* x, const __nv_bfloat16* w,
                                   const __nv_bfloat16* bias, int64_t m, int64_t n, int64_t k)>;

Product through(troupe::cuda::Gemm& gemm) {
  return [&gemm](__nv_bfloat16* y, float* y_f32, const __nv_bfloat16* x, const __nv_bfloat16* w,
                 const __nv_bfloat16* bias, int64_t m, int64_t n, int64_t k) {
    if (y) gemm.linear(y, x, w, bias, m, n, k, nullptr);
    if (y_f32) gemm.linear_f32(y_f32, x, w, m, n, k, nullptr);
  };
}

// Relative L2 error of y = x w^T (+ bias) for one shape, through both output types.
void check_shape(const Product& product, int64_t m, int64_t n, int64_t k, bool bias, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<__nv_bfloat16> x(m * k), w(n * k), b(n);
  for (auto& v : x) v = __float2bfloat16(normal(rng));
  for (auto& v : w) v = __float2bfloat16(0.05f * normal(rng));
  for (auto& v : b) v = __float2bfloat16(normal(rng));
  std::vector<double> ref(m * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = bias ? __bfloat162float(b[j]) : 0.0;
      for (int64_t t = 0; t < k; ++t) acc += double{__bfloat162float(x[i * k + t])} * __bfloat162float(w[j * k + t]);
      ref[i * n + j] = acc;
    }
  auto *dx = upload(x), *dw = upload(w), *db = upload(b);
  // Poisoned outputs: an unwritten element stays NaN and fails.
  std::vector<__nv_bfloat16> poison_b(m * n, __float2bfloat16(NAN));
  std::vector<float> poison_f(m * n, NAN);
  auto* dy = upload(poison_b);
  auto* dyf = upload(poison_f);
  product(dy, nullptr, dx, dw, bias ? db : nullptr, m, n, k);
  if (!bias) product(nullptr, dyf, dx, dw, nullptr, m, n, k);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<__nv_bfloat16> y(m * n);
  std::vector<float> yf(m * n);
  ASSERT_EQ(cudaMemcpy(y.data(), dy, y.size() * 2, cudaMemcpyDeviceToHost), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(yf.data(), dyf, yf.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  double num = 0, numf = 0, den = 0;
  for (int64_t i = 0; i < m * n; ++i) {
    const double e = __bfloat162float(y[i]) - ref[i], ef = yf[i] - ref[i];
    num += e * e;
    numf += ef * ef;
    den += ref[i] * ref[i];
  }
  EXPECT_LT(std::sqrt(num / den), 5e-3) << "bf16 out, m=" << m << " n=" << n << " k=" << k << " bias=" << bias;
  if (!bias) {
    EXPECT_LT(std::sqrt(numf / den), 1e-5) << "fp32 out, m=" << m << " n=" << n << " k=" << k;
  }
  for (void* p : {static_cast<void*>(dx), static_cast<void*>(dw), static_cast<void*>(db), static_cast<void*>(dy),
                  static_cast<void*>(dyf)})
    cudaFree(p);
}

TEST(CudaGemm, SmallAndLargeBatchesMatchTheFp64Product) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  troupe::cuda::Gemm gemm;
  uint32_t seed = 1;
  for (int64_t m : {1, 2, 3, 5, 8, 9, 33})
    for (auto [n, k] : {std::pair<int64_t, int64_t>{96, 64}, {160, 96}, {1000, 4096}, {384, 14336}, {7, 8}})
      for (bool bias : {false, true}) check_shape(through(gemm), m, n, k, bias, seed++);
}

TEST(CudaGemm, SkinnyAndCublasLtPathsBothMatchTheProduct) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  troupe::cuda::Gemm skinny, cublas(size_t{32} << 20, /*skinny=*/false);
  for (int64_t m : {1, 4, 8}) {
    check_shape(through(skinny), m, 4096, 4096, false, 100 + static_cast<uint32_t>(m));
    check_shape(through(cublas), m, 4096, 4096, false, 100 + static_cast<uint32_t>(m));
  }
}

// Gemm sends only single rows to the skinny kernel, but it takes up to kSkinnyMaxRows (the
// crossover with cuBLASLt at 2-7 rows is still to be measured): every row count stays checked.
TEST(CudaGemm, SkinnyKernelMatchesTheProductAtEveryRowCount) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  const Product skinny = [](__nv_bfloat16* y, float* y_f32, const __nv_bfloat16* x, const __nv_bfloat16* w,
                            const __nv_bfloat16* bias, int64_t m, int64_t n, int64_t k) {
    ASSERT_EQ(troupe::cuda::skinny_gemm(y, y_f32, x, w, bias, m, n, k, nullptr), cudaSuccess);
  };
  uint32_t seed = 200;
  for (int64_t m = 1; m <= troupe::cuda::kSkinnyMaxRows; ++m)
    for (auto [n, k] : {std::pair<int64_t, int64_t>{96, 64}, {1000, 4096}, {384, 14336}})
      for (bool bias : {false, true}) check_shape(skinny, m, n, k, bias, seed++);
}

// A tile-searched choice (tune with Search::tiles) still computes the product, and exported then
// imported into another Gemm it is the same algorithm: bitwise the same output, no timing.
TEST(CudaGemm, TunedChoicesComputeTheProductAndSurviveExportAndImport) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  constexpr int64_t m = 256, n = 4096, k = 4096;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<__nv_bfloat16> x(m * k), w(n * k);
  for (auto& v : x) v = __float2bfloat16(normal(rng));
  for (auto& v : w) v = __float2bfloat16(0.05f * normal(rng));
  auto *dx = upload(x), *dw = upload(w), *dy = upload(std::vector<__nv_bfloat16>(m * n));
  troupe::cuda::Gemm tuned;
  const auto t = tuned.tune(dy, dx, dw, nullptr, m, n, k, {.heuristic = 8, .tiles = true}, nullptr);
  EXPECT_GT(t.tried, 8) << "the tile search adds candidates";
  EXPECT_GT(t.best_us, 0.0f);
  ASSERT_TRUE(tuned.tuned(m, n, k, false));
  check_shape(through(tuned), m, n, k, false, 301);
  const std::string text = tuned.export_tuned();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;

  troupe::cuda::Gemm imported;
  EXPECT_EQ(imported.import_tuned("garbage\n256 4096 4096 0 0 abc\n" + text + "1 2\n"), 1);
  ASSERT_TRUE(imported.tuned(m, n, k, false));
  EXPECT_FALSE(imported.tuned(m, n, k, true)) << "with bias is another shape";
  auto run = [&](troupe::cuda::Gemm& g) {
    g.linear(dy, dx, dw, nullptr, m, n, k, nullptr);
    std::vector<__nv_bfloat16> y(m * n);
    EXPECT_EQ(cudaMemcpy(y.data(), dy, y.size() * 2, cudaMemcpyDeviceToHost), cudaSuccess);
    return y;
  };
  const auto a = run(tuned), b = run(imported);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 2), 0);
  EXPECT_EQ(imported.export_tuned(), text);
  for (void* p : {static_cast<void*>(dx), static_cast<void*>(dw), static_cast<void*>(dy)}) cudaFree(p);
}

}  // namespace
