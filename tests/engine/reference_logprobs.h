#pragma once
// The tests' reference for prompt logprobs: the model's own log-softmax at each prompt position,
// each from CpuModel's forward over that prefix alone (its last token's logits, as forward()
// returns them to be sampled), in double.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "engine/model/cpu_model.h"
#include "engine/model/kv_cache_storage.h"

namespace troupe::testing {

// [p][v] = log P(v | prompt[0..p]). Runs `model` (its workspaces: not while another thread does).
inline std::vector<std::vector<double>> prefix_logprobs(CpuModel& model, const std::vector<int32_t>& prompt) {
  const int32_t block_size = 16, blocks = static_cast<int32_t>(prompt.size()) / block_size + 1;
  KvCacheStorage cache(model.config(), blocks, block_size);
  std::vector<int32_t> table(static_cast<size_t>(blocks));
  std::iota(table.begin(), table.end(), 0);
  std::vector<std::vector<double>> out;
  for (size_t p = 0; p < prompt.size(); ++p) {
    ForwardBatch b;
    b.add_sequence(prompt.data(), static_cast<int32_t>(p + 1), static_cast<int32_t>(p + 1), table, block_size, true);
    const std::vector<float> logits = model.forward(b, cache);
    const double max = *std::max_element(logits.begin(), logits.end());
    double z = 0;
    for (float v : logits) z += std::exp(double{v} - max);
    std::vector<double>& row = out.emplace_back();
    for (float v : logits) row.push_back(double{v} - max - std::log(z));
  }
  return out;
}

}  // namespace troupe::testing
