#pragma once
// One row's sampling settings as the GPU sampler reads them (an array of these is copied to the
// device each step). Plain C++ so the engine fills it without CUDA headers; the fields mean what
// they mean in engine's SamplingParams.
#include <cstdint>

namespace troupe::cuda {

struct RowSamplingParams {
  float temperature;         // <= 0: greedy
  float top_p;               // (0, 1]; 1 keeps every token
  float min_p;               // [0, 1]; 0 keeps every token
  float repetition_penalty;  // 1: off
  float presence_penalty;    // 0: off
  float frequency_penalty;   // 0: off
  int32_t top_k;             // <= 0 (or >= vocab) keeps every token
  uint64_t seed;             // the draw is SamplerRng(seed, output_index).uniform()
  uint64_t output_index;     // which output token of the request this row produces
};

}  // namespace troupe::cuda
