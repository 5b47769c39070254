#pragma once
// SamplerRng: the random stream behind one sampling draw, compiled into both the CPU sampler
// (engine/sampling) and the GPU one (kernels/cuda/sampling), so a seeded request draws the same
// uniforms wherever it runs. xoshiro256** seeded through SplitMix64: small, fast, and the same
// sequence on every platform (std:: distributions are not). A request's k-th output token draws
// from SamplerRng(seed, k): the text depends only on (seed, position), so a sequence preempted
// and recomputed, or batched with others, samples exactly what it would alone.
#include <cstdint>

#ifndef TROUPE_HOST_DEVICE
#if defined(__CUDACC__)
#define TROUPE_HOST_DEVICE __host__ __device__
#else
#define TROUPE_HOST_DEVICE
#endif
#endif

namespace troupe {

class SamplerRng {
 public:
  TROUPE_HOST_DEVICE explicit SamplerRng(uint64_t seed) {
    for (uint64_t& s : s_) {
      uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      s = z ^ (z >> 31);
    }
  }
  // Mixing the position into the seed (rather than skipping ahead k draws) keeps each draw O(1).
  TROUPE_HOST_DEVICE SamplerRng(uint64_t seed, uint64_t output_index)
      : SamplerRng(seed ^ (output_index * 0xd1b54a32d192ed03ull + 0x8cb92ba72f3d8dd7ull)) {}

  // [0, 1) with 53 random bits: every value is exact in double, so both sides see the same u.
  TROUPE_HOST_DEVICE double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  TROUPE_HOST_DEVICE static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  TROUPE_HOST_DEVICE uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  uint64_t s_[4];
};

}  // namespace troupe
