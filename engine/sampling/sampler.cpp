#include "engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>
#include <vector>

namespace troupe {
namespace {

int32_t argmax(std::span<const float> v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

std::span<const int32_t> masked_stop_ids(const SamplingParams& p, size_t num_output_tokens) {
  if (num_output_tokens >= static_cast<size_t>(std::max(p.min_tokens, 0))) return {};
  return p.stop_token_ids;
}

void apply_logit_adjustments(std::span<float> logits, const SamplingParams& p, size_t num_output_tokens) {
  const auto vocab = static_cast<int32_t>(logits.size());
  for (const auto& [id, bias] : p.logit_bias)
    if (id >= 0 && id < vocab) logits[id] += bias;
  for (int32_t id : masked_stop_ids(p, num_output_tokens))
    if (id >= 0 && id < vocab) logits[id] = -std::numeric_limits<float>::infinity();
}

void apply_penalties(std::span<float> logits, const SamplingParams& p,
                     std::span<const int32_t> prompt_ids, std::span<const int32_t> output_ids) {
  const auto vocab = static_cast<int32_t>(logits.size());
  if (p.repetition_penalty != 1.0f) {
    std::vector<bool> seen(vocab, false);
    for (int32_t id : prompt_ids) if (id >= 0 && id < vocab) seen[id] = true;
    for (int32_t id : output_ids) if (id >= 0 && id < vocab) seen[id] = true;
    for (int32_t id = 0; id < vocab; ++id) {
      if (!seen[id]) continue;
      // Dividing a negative logit would raise it; multiply instead (the CTRL paper's rule).
      logits[id] = logits[id] > 0 ? logits[id] / p.repetition_penalty : logits[id] * p.repetition_penalty;
    }
  }
  if (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    std::unordered_map<int32_t, int32_t> counts;
    for (int32_t id : output_ids) if (id >= 0 && id < vocab) ++counts[id];
    for (const auto& [id, n] : counts)
      logits[id] -= p.frequency_penalty * static_cast<float>(n) + p.presence_penalty;
  }
}

int32_t sample_token(std::span<float> logits, const SamplingParams& p,
                     std::span<const int32_t> prompt_ids, std::span<const int32_t> output_ids,
                     SamplerRng& rng) {
  if (p.adjusts_logits()) apply_logit_adjustments(logits, p, output_ids.size());
  apply_penalties(logits, p, prompt_ids, output_ids);
  if (p.is_greedy()) return argmax(logits);

  // Candidates sorted by logit, best first; filters only ever cut the tail.
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  size_t keep = order.size();
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < keep) {
    keep = static_cast<size_t>(p.top_k);
    std::partial_sort(order.begin(), order.begin() + keep, order.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  } else {
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  }
  order.resize(keep);

  std::vector<double> probs(keep);
  const double max_logit = logits[order[0]] / p.temperature;
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = std::exp(logits[order[i]] / p.temperature - max_logit);
    total += probs[i];
  }
  for (double& x : probs) x /= total;

  if (p.top_p < 1.0f) {
    double mass = 0.0;
    size_t n = 0;
    // Keep the smallest prefix whose mass reaches top_p (at least one token).
    while (n < keep && (n == 0 || mass < p.top_p)) mass += probs[n++];
    keep = n;
  }
  if (p.min_p > 0.0f) {
    const double floor = p.min_p * probs[0];
    size_t n = 1;
    while (n < keep && probs[n] >= floor) ++n;
    keep = n;
  }
  double kept = 0.0;
  for (size_t i = 0; i < keep; ++i) kept += probs[i];
  double u = rng.uniform() * kept;
  for (size_t i = 0; i < keep; ++i) {
    u -= probs[i];
    if (u < 0.0) return order[i];
  }
  return order[keep - 1];
}

}  // namespace troupe
