// batch_invariant_linear: a row's output does not depend on how many rows share the call, where
// the row sits among them, or how many threads run it — and it is the same product as OpenBLAS's.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/batch_invariant_gemm.h"
#include "kernels/cpu/gemm.h"

namespace troupe::cpu {
namespace {

struct Problem {
  int64_t n, k;
  std::vector<float> x, w, bias;  // x: [rows, k], w: [n, k], bias: [n]
  Problem(int64_t rows, int64_t n_, int64_t k_) : n(n_), k(k_), x(rows * k_), w(n_ * k_), bias(n_) {
    std::mt19937 rng(7);
    std::normal_distribution<float> d;
    for (float& v : x) v = d(rng);
    for (float& v : w) v = d(rng);
    for (float& v : bias) v = d(rng);
  }
  // Rows [first, first + m) of x as one call.
  std::vector<float> run(int64_t first, int64_t m, int threads, bool with_bias = true) const {
    std::vector<float> y(m * n);
    batch_invariant_linear(y.data(), x.data() + first * k, w.data(), with_bias ? bias.data() : nullptr, m, n, k,
                           threads);
    return y;
  }
};

bool same_bits(const float* a, const float* b, int64_t count) { return std::memcmp(a, b, count * sizeof(float)) == 0; }

// Shapes with k % 8 != 0 and n odd too, so every tile edge and the k tail are in play.
TEST(BatchInvariantGemm, ARowIsTheSameAloneAndInAnyBatch) {
  for (const auto& [n, k] : {std::pair<int64_t, int64_t>{768, 256}, {131, 37}, {5, 8}, {64, 3}}) {
    const Problem p(70, n, k);
    std::vector<std::vector<float>> alone;
    for (int64_t i = 0; i < 70; ++i) alone.push_back(p.run(i, 1, 1));
    for (const int64_t m : {2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 64, 70}) {
      for (const int64_t first : {int64_t{0}, 70 - m}) {
        const std::vector<float> y = p.run(first, m, m % 2 == 0 ? 2 : 1);
        for (int64_t r = 0; r < m; ++r)
          ASSERT_TRUE(same_bits(&y[r * n], alone[first + r].data(), n))
              << "n " << n << " k " << k << ": row " << first + r << " at position " << r << " of " << m;
      }
    }
  }
}

TEST(BatchInvariantGemm, ThreadsChangeNothing) {
  const Problem p(40, 300, 96);
  const std::vector<float> one = p.run(0, 40, 1);
  for (const int threads : {2, 3, 8}) EXPECT_TRUE(same_bits(p.run(0, 40, threads).data(), one.data(), 40 * 300));
}

// The same product as the OpenBLAS path (cpu::linear), to float rounding.
TEST(BatchInvariantGemm, EqualsTheBlasProductWithinRounding) {
  for (const bool with_bias : {true, false}) {
    const Problem p(33, 257, 129);
    const std::vector<float> got = p.run(0, 33, 2, with_bias);
    std::vector<float> want(33 * 257);
    linear(want.data(), p.x.data(), p.w.data(), with_bias ? p.bias.data() : nullptr, 33, 257, 129);
    for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4f * (1.0f + std::abs(want[i]))) << i;
  }
}

}  // namespace
}  // namespace troupe::cpu
