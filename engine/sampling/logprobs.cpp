#include "engine/sampling/logprobs.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace troupe {

SampleLogprobs compute_logprobs(std::span<const float> raw_logits, int32_t sampled, int32_t top_n) {
  // log_softmax in double: the normalizer of 150k terms loses nothing, and the GPU sampler's
  // fp64 sum agrees with it to ~1e-7.
  const float max = *std::max_element(raw_logits.begin(), raw_logits.end());
  double sum = 0.0;
  for (float v : raw_logits) sum += std::exp(static_cast<double>(v) - max);
  const double log_z = max + std::log(sum);
  auto logprob = [&](int32_t id) { return static_cast<float>(raw_logits[id] - log_z); };
  SampleLogprobs out;
  out.logprob = logprob(sampled);
  const auto n = std::min<size_t>(static_cast<size_t>(std::max(top_n, 0)), raw_logits.size());
  std::vector<int32_t> order(raw_logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + static_cast<long>(n), order.end(), [&](int32_t a, int32_t b) {
    return raw_logits[a] != raw_logits[b] ? raw_logits[a] > raw_logits[b] : a < b;
  });
  for (size_t i = 0; i < n; ++i) out.top.push_back({order[i], logprob(order[i])});
  return out;
}

PromptTokenLogprobs compute_prompt_logprobs(std::span<const float> raw_logits, int32_t token, int32_t top_n) {
  SampleLogprobs lp = compute_logprobs(raw_logits, token, top_n);
  // Its place in compute_logprobs' order, so a token listed in `top` has rank = index + 1.
  const float v = raw_logits[static_cast<size_t>(token)];
  int32_t before = 0;
  for (size_t i = 0; i < raw_logits.size(); ++i)
    before += raw_logits[i] > v || (raw_logits[i] == v && static_cast<int32_t>(i) < token);
  return {token, lp.logprob, before + 1, std::move(lp.top)};
}

}  // namespace troupe
