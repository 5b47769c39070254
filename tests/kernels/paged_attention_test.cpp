// Paged attention reads the same numbers as dense causal attention, wherever the blocks live.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cpu/paged_attention.h"

namespace {

using troupe::cpu::PagedKvLayer;

// Dense reference: q [T, H, D], k/v [T, KVH, D], causal over positions 0..T-1.
std::vector<float> dense_attention(const std::vector<float>& q, const std::vector<float>& k,
                                   const std::vector<float>& v, int T, int H, int KVH, int D) {
  std::vector<float> out(T * H * D, 0.0f);
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < H; ++h) {
      const int kvh = h / (H / KVH);
      std::vector<double> s(t + 1);
      double mx = -1e30;
      for (int j = 0; j <= t; ++j) {
        double dot = 0;
        for (int e = 0; e < D; ++e) dot += q[(t * H + h) * D + e] * k[(j * KVH + kvh) * D + e];
        s[j] = dot / std::sqrt(double(D));
        mx = std::max(mx, s[j]);
      }
      double z = 0;
      for (double& x : s) z += (x = std::exp(x - mx));
      for (int j = 0; j <= t; ++j)
        for (int e = 0; e < D; ++e) out[(t * H + h) * D + e] += float(s[j] / z * v[(j * KVH + kvh) * D + e]);
    }
  return out;
}

TEST(PagedAttention, ScatteredBlocksAndChunksMatchDenseCausalAttention) {
  const int T = 45, H = 8, KVH = 2, D = 16, B = 4, blocks = 32;
  std::mt19937 rng(3);
  std::normal_distribution<float> n;
  std::vector<float> q(T * H * D), k(T * KVH * D), v(T * KVH * D);
  for (auto* vec : {&q, &k, &v})
    for (float& x : *vec) x = n(rng);
  std::vector<int32_t> table(blocks);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), rng);

  std::vector<float> kc(blocks * B * KVH * D, NAN), vc(blocks * B * KVH * D, NAN);
  PagedKvLayer cache{kc.data(), vc.data(), B, KVH, D};
  std::vector<int32_t> slots(T);
  for (int t = 0; t < T; ++t) slots[t] = table[t / B] * B + t % B;

  // Three chunks: 20 tokens, 24 tokens, then one decode token.
  std::vector<float> out(T * H * D);
  for (auto [begin, len] : {std::pair{0, 20}, {20, 24}, {44, 1}}) {
    troupe::cpu::kv_cache_write(cache, &k[begin * KVH * D], &v[begin * KVH * D], KVH * D, &slots[begin], len);
    troupe::cpu::paged_attention(&out[begin * H * D], H * D, &q[begin * H * D], H * D, len, begin + len,
                                 table.data(), cache, H, 1.0f / std::sqrt(float(D)));
  }
  const auto expect = dense_attention(q, k, v, T, H, KVH, D);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], expect[i], 1e-5f) << i;
}

}  // namespace
