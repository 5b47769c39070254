#include "engine/sampling/sampler.h"

#include <algorithm>
#include <bit>
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

// The sampler's order: the higher logit first, among equal logits the lower id (the GPU sampler's
// rule). One 64-bit key holds both, so ordering compares integers, not logits through ids.
struct Candidate {
  uint64_t key;   // ~(the logit's order-preserving bits) << 32 | id: ascending = best first
  double weight;  // exp(z - z_max), then its probability among the candidates
  int32_t id() const { return static_cast<int32_t>(key & 0xffffffffu); }
};

uint64_t order_key(float logit, int32_t id) {
  // Branch-free (a row's signs are random, so a branch would mispredict half the time): -0 as +0,
  // then a negative float's bits all flipped and a positive one's sign bit set, which orders
  // floats as unsigned integers; flipped once more so that the best comes first.
  uint32_t bits = std::bit_cast<uint32_t>(logit);
  bits &= 0u - static_cast<uint32_t>((bits & 0x7fffffffu) != 0);
  const uint32_t ascending = bits ^ (static_cast<uint32_t>(static_cast<int32_t>(bits) >> 31) | 0x80000000u);
  return (static_cast<uint64_t>(~ascending) << 32) | static_cast<uint32_t>(id);
}

// A function object, not a function: the sorts inline it.
constexpr auto better = [](const Candidate& a, const Candidate& b) { return a.key < b.key; };

// The key of the first candidate, best first, at which the running mass (of it and every better
// one) reaches `target` (>= target, or > target when strictly); the worst candidate's if none
// does. No sort of the whole row: one pass sums the masses into 65,536 bins by the key's top 16
// bits (sign, exponent and 7 bits of the logit's mantissa, so bins are in order), a walk over the
// bins finds the one the target falls in, and only that bin's few candidates are sorted and
// walked. Sums in another order than one running sum differ by ~1e-16 relative, as on the GPU.
uint64_t first_reaching(std::span<const Candidate> c, double target, bool strictly) {
  const auto reaches = [&](double mass) { return strictly ? mass > target : mass >= target; };
  thread_local std::vector<Candidate> in_bin;
  const auto walk = [&](double mass) {  // in_bin sorted, from the mass of everything before it
    for (const Candidate& x : in_bin)
      if (reaches(mass += x.weight)) return x.key;
    return in_bin.back().key;
  };
  if (c.size() <= 4096) {  // few candidates (top-k, a small vocabulary): sorting them is cheaper
    in_bin.assign(c.begin(), c.end());
    std::sort(in_bin.begin(), in_bin.end(), better);
    return walk(0.0);
  }
  thread_local std::vector<double> bins;
  bins.assign(size_t{1} << 16, 0.0);
  uint64_t worst = 0;
  for (const Candidate& x : c) {
    bins[x.key >> 48] += x.weight;
    worst = std::max(worst, x.key);
  }
  double before = 0.0;  // the mass of every bin before bin b
  size_t b = 0;
  for (; b < bins.size(); ++b) {
    if (reaches(before + bins[b])) break;
    before += bins[b];
  }
  if (b == bins.size()) return worst;  // rounding kept the target out of reach: the last one
  in_bin.clear();
  for (const Candidate& x : c)
    if ((x.key >> 48) == b) in_bin.push_back(x);
  std::sort(in_bin.begin(), in_bin.end(), better);
  return walk(before);
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

  // Every token a candidate; top-k keeps the k best (in no particular order yet).
  thread_local std::vector<Candidate> scratch;
  scratch.resize(logits.size());
  std::span<Candidate> c(scratch);
  const float top = *std::max_element(logits.begin(), logits.end());
  const double z_max = static_cast<double>(top / p.temperature);
  for (size_t i = 0; i < logits.size(); ++i) c[i].key = order_key(logits[i], static_cast<int32_t>(i));
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < c.size()) {
    // A small k: a heap of the k best that most candidates only glance at; a large one: select.
    if (p.top_k <= 1024)
      std::partial_sort(c.begin(), c.begin() + p.top_k, c.end(), better);
    else
      std::nth_element(c.begin(), c.begin() + p.top_k, c.end(), better);
    c = c.first(static_cast<size_t>(p.top_k));
  }
  double total = 0.0;
  for (Candidate& x : c) {
    x.weight = std::exp(static_cast<double>(logits[x.id()] / p.temperature) - z_max);
    total += x.weight;
  }
  for (Candidate& x : c) x.weight /= total;  // now probabilities

  const auto up_to = [&](uint64_t last) {  // the candidates at least as good as `last`
    return c.first(static_cast<size_t>(
        std::partition(c.begin(), c.end(), [&](const Candidate& x) { return x.key <= last; }) - c.begin()));
  };
  // The shortest best-first prefix whose mass reaches top_p (at least one token).
  if (p.top_p < 1.0f) c = up_to(first_reaching(c, p.top_p, /*strictly=*/false));
  if (p.min_p > 0.0f) {
    // Probabilities fall along the order, so "at least min_p of the best" is a prefix too; the
    // best (probability 1 / total) always passes, since min_p <= 1.
    const double floor = p.min_p * (1.0 / total);
    const auto passes = std::partition(c.begin(), c.end(), [&](const Candidate& x) { return x.weight >= floor; });
    c = c.first(static_cast<size_t>(passes - c.begin()));
  }
  double kept = 0.0;
  for (const Candidate& x : c) kept += x.weight;
  return static_cast<int32_t>(first_reaching(c, rng.uniform() * kept, /*strictly=*/true) & 0xffffffffu);
}

}  // namespace troupe
