#pragma once
// What the GPU benchmark programs share: Llama-3-8B's decoder shape (whole, or one tensor-parallel
// rank's), a step's inputs laid out as the scheduler would lay them out (every sequence owning its
// KV blocks), and a median.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cuda/decoder.h"

namespace troupe::bench {

// Llama-3-8B with `layers` layers; with tp > 1, rank `rank`'s slice of it (its 32/tp query heads,
// 8/tp KV heads, 14336/tp of the intermediate size; tp must divide 8).
inline cuda::DecoderShape llama3_8b(int64_t layers, int32_t tp = 1, int32_t rank = 0) {
  cuda::DecoderShape s;
  s.vocab = 128256;
  s.hidden = 4096;
  s.intermediate = 14336 / tp;
  s.layers = layers;
  s.heads = 32 / tp;
  s.kv_heads = 8 / tp;
  s.head_dim = 128;
  s.rms_norm_eps = 1e-5f;
  for (int i = 0; i < 64; ++i) s.rope_inv_freq.push_back(std::pow(500000.0f, -i / 64.0f));
  s.shard = {.rank = rank, .size = tp, .q_head_begin = rank * s.heads, .kv_head_begin = rank * s.kv_heads,
             .intermediate_begin = rank * s.intermediate, .model_heads = 32, .model_kv_heads = 8,
             .model_intermediate = 14336};
  return s;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Sequences of a step, each computing q tokens with `context` tokens in the cache after the step;
// every sequence owns its blocks (the pool holds them all).
struct Step {
  std::vector<int32_t> tokens, positions, slots, query_start{0}, context, tables, logit;
  int width = 0, next_block = 0;
  explicit Step(int table_width) : width(table_width) {}
  Step(int S, int q, int context_len, int table_width) : width(table_width) { add(S, q, context_len); }
  Step& add(int S, int q, int context_len) {
    const int own = (context_len + 15) / 16;
    for (int s = 0; s < S; ++s, next_block += own) {
      for (int i = 0; i < q; ++i) {
        const int pos = context_len - q + i;
        tokens.push_back((s * 7919 + i) % 128000);
        positions.push_back(pos);
        slots.push_back((next_block + pos / 16) * 16 + pos % 16);
      }
      query_start.push_back(static_cast<int32_t>(tokens.size()));
      context.push_back(context_len);
      for (int b = 0; b < width; ++b) tables.push_back(b < own ? next_block + b : 0);
      logit.push_back(static_cast<int32_t>(tokens.size()) - 1);
    }
    return *this;
  }
  cuda::DecoderStep view() const {
    return {tokens, positions, slots, query_start, context, tables, logit, -1, {}, {}, nullptr};
  }
};

}  // namespace troupe::bench
