#pragma once
// Turning one row of logits into one token. Order, as vLLM v1 does it: logit_bias and the
// min_tokens mask on the raw logits, then penalties, then temperature, then top-k, top-p and
// min-p filters, then a draw from what is left.
#include <cstdint>
#include <span>

#include "engine/sampling/sampling_params.h"
#include "kernels/common/sampler_rng.h"  // SamplerRng, shared with the GPU sampler

namespace troupe {

// The ids min_tokens holds off when num_output_tokens outputs exist: every stop id while fewer
// than min_tokens do, else none. One rule for both samplers (the GPU backend packs this list).
std::span<const int32_t> masked_stop_ids(const SamplingParams& p, size_t num_output_tokens);

// Adds logit_bias, then sets every masked_stop_ids logit to -inf (so none is drawn), in place.
// Ids outside the row are skipped.
void apply_logit_adjustments(std::span<float> logits, const SamplingParams& p, size_t num_output_tokens);

// Applies repetition / presence / frequency penalties in place.
void apply_penalties(std::span<float> logits, const SamplingParams& p,
                     std::span<const int32_t> prompt_ids, std::span<const int32_t> output_ids);

// Picks the next token; `logits` is modified (penalties, scaling). Greedy ignores the RNG.
// Candidates are ordered by logit, the lower id first among equal ones (as on the GPU); top-k,
// top-p and min-p cut that order from the front and the draw walks it, but only as far as the
// cut or the draw needs: a call costs ~2-3 ms on a 151,936-token row, ~8x less than a full sort
// (docs/benchmarks.md).
int32_t sample_token(std::span<float> logits, const SamplingParams& p,
                     std::span<const int32_t> prompt_ids, std::span<const int32_t> output_ids,
                     SamplerRng& rng);

}  // namespace troupe
