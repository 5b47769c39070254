#pragma once
// Turning one row of logits into one token. Order, as vLLM does it: penalties on the raw logits,
// then temperature, then top-k, top-p and min-p filters, then a draw from what is left.
#include <cstdint>
#include <span>

#include "engine/sampling/sampling_params.h"

namespace troupe {

// Random stream for one draw. xoshiro256** seeded through SplitMix64: small, fast, and the same
// sequence on every platform (std:: distributions are not). A request's k-th output token draws
// from SamplerRng(seed, k): the text depends only on (seed, position), so a sequence preempted
// and recomputed, or batched with others, samples exactly what it would alone.
class SamplerRng {
 public:
  explicit SamplerRng(uint64_t seed);
  SamplerRng(uint64_t seed, uint64_t output_index);
  double uniform();  // [0, 1)

 private:
  uint64_t next();
  uint64_t s_[4];
};

// Applies repetition / presence / frequency penalties in place.
void apply_penalties(std::span<float> logits, const SamplingParams& p,
                     std::span<const int32_t> prompt_ids, std::span<const int32_t> output_ids);

// Picks the next token; `logits` is modified (penalties, scaling). Greedy ignores the RNG.
int32_t sample_token(std::span<float> logits, const SamplingParams& p,
                     std::span<const int32_t> prompt_ids, std::span<const int32_t> output_ids,
                     SamplerRng& rng);

}  // namespace troupe
