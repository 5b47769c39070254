#pragma once
// What the GPU benchmark programs share: a step's inputs laid out as the scheduler would lay them
// out (every sequence owning its KV blocks), and a median.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cuda/decoder.h"

namespace troupe::bench {

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
  cuda::DecoderStep view() const { return {tokens, positions, slots, query_start, context, tables, logit}; }
};

}  // namespace troupe::bench
