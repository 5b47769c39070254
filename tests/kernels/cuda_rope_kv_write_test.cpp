// RoPE fused with the paged KV write (kernels/cuda/rope_kv_write) against the CPU's rope_apply at
// positions up to 128k, where fp32 angle error would show first: rotated q/k within bf16 rounding,
// v and row padding untouched, each k/v row in its slot and every other slot still NaN.
// Its argument checks live with the attention ones (CudaAttentionArguments).
#include <gtest/gtest.h>

#include "cuda_test_device.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "cuda_bf16_test_buffers.h"  // DeviceBuffer, random_bf16, to_float, rel_error, fresh_seed
#include "kernels/cpu/rope.h"
#include "kernels/cuda/rope_kv_write.h"

namespace {

class CudaRopeKvWrite : public testing::TestWithParam<int> {};

TEST_P(CudaRopeKvWrite, MatchesCpuRopeAtLongPositionsAndFillsCacheSlots) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const int64_t d = GetParam(), heads = 8, kvh = 2, tokens = 50, bs = 16, blocks = 8;
  const int64_t stride = (heads + 2 * kvh) * d + 8;  // 8 columns past v that must stay untouched
  const int64_t kv_row = kvh * d;
  std::vector<int32_t> positions(tokens), slots(tokens);
  for (auto& p : positions) p = std::uniform_int_distribution<int32_t>(0, 131072)(rng);
  positions[0] = 0;
  positions[1] = 131072;
  positions[2] = 131071;
  std::vector<int32_t> pool(blocks * bs);
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), rng);
  for (int64_t t = 0; t < tokens; ++t) slots[t] = t % 7 == 3 ? -1 : pool[t];
  std::vector<float> inv_freq(d / 2);
  for (int64_t i = 0; i < d / 2; ++i) inv_freq[i] = 1.0f / std::pow(10000.0f, float(2 * i) / float(d));

  const std::vector<bf16> qkv = random_bf16(tokens * stride, rng);
  DeviceBuffer<bf16> dqkv(qkv), dk(blocks * bs * kv_row), dv(blocks * bs * kv_row);
  DeviceBuffer<int32_t> dpos(positions), dslots(slots);
  DeviceBuffer<float> dfreq(inv_freq);
  dk.poison();
  dv.poison();
  const troupe::cuda::PagedKvCache cache{dk.ptr, dv.ptr, int32_t(bs), int32_t(kvh), int32_t(d)};
  ASSERT_EQ(troupe::cuda::rope_kv_write(dqkv.ptr, stride, dpos.ptr, dfreq.ptr, dslots.ptr, tokens, heads, cache, nullptr),
            cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  std::vector<float> ref = to_float(qkv);
  troupe::cpu::rope_apply(ref.data(), positions.data(), inv_freq.data(), tokens, heads, d, stride);
  troupe::cpu::rope_apply(ref.data() + heads * d, positions.data(), inv_freq.data(), tokens, kvh, d, stride);
  const std::vector<bf16> got_bits = dqkv.download();
  const std::vector<float> got = to_float(got_bits);
  const double err = rel_error(got.data(), ref.data(), ref.size());
  EXPECT_LT(err, 1e-2);
  std::printf("rope d %d: rel error %.2e\n", int(d), err);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t c = 0; c < stride; ++c) {
      const int64_t i = t * stride + c;
      // Each rotated element is the reference up to bf16 rounding; v and padding are untouched.
      if (c < (heads + kvh) * d)
        ASSERT_LE(std::abs(got[i] - ref[i]), std::ldexp(std::abs(ref[i]), -8) + 1e-5f)
            << "token " << t << " position " << positions[t] << " column " << c;
      else
        ASSERT_EQ(got[i], ref[i]) << "token " << t << " column " << c;
    }
  const std::vector<bf16> kc = dk.download(), vc = dv.download();
  std::vector<bool> written(blocks * bs, false);
  for (int64_t t = 0; t < tokens; ++t) {
    if (slots[t] < 0) continue;
    written[slots[t]] = true;
    ASSERT_EQ(std::memcmp(&kc[slots[t] * kv_row], &got_bits[t * stride + heads * d], kv_row * sizeof(bf16)), 0)
        << "k of token " << t;
    ASSERT_EQ(std::memcmp(&vc[slots[t] * kv_row], &qkv[t * stride + (heads + kvh) * d], kv_row * sizeof(bf16)), 0)
        << "v of token " << t;
  }
  for (int64_t s = 0; s < blocks * bs; ++s)
    if (!written[s])
      for (int64_t i = 0; i < kv_row; ++i) {
        ASSERT_TRUE(std::isnan(__bfloat162float(kc[s * kv_row + i]))) << "slot " << s << " written";
        ASSERT_TRUE(std::isnan(__bfloat162float(vc[s * kv_row + i]))) << "slot " << s << " written";
      }
}

INSTANTIATE_TEST_SUITE_P(HeadDims, CudaRopeKvWrite, testing::Values(16, 32, 64, 128));

}  // namespace
