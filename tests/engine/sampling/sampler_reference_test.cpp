// sample_token against the sampler written the plain way: every candidate sorted best first (the
// higher logit, then the lower id), probabilities summed in that order, top-k / top-p / min-p cut
// from the front, the draw walked from the front. sample_token sorts only what a draw needs and
// sums masses in another order, which can move a draw only when u * kept lies within ~1e-16 of a
// running sum; over these few thousand seeded draws that never happens, so every token must equal.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "engine/sampling/sampler.h"

namespace troupe {
namespace {

int32_t reference_draw(const std::vector<float>& logits, const SamplingParams& p, SamplerRng& rng) {
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  size_t keep = order.size();
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < keep) keep = static_cast<size_t>(p.top_k);
  std::vector<double> probs(keep);
  const double z_max = logits[order[0]] / p.temperature;
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) total += probs[i] = std::exp(logits[order[i]] / p.temperature - z_max);
  for (double& x : probs) x /= total;
  if (p.top_p < 1.0f) {
    double mass = 0.0;
    size_t n = 0;
    while (n < keep && (n == 0 || mass < p.top_p)) mass += probs[n++];
    keep = n;
  }
  if (p.min_p > 0.0f) {
    size_t n = 1;
    while (n < keep && probs[n] >= p.min_p * probs[0]) ++n;
    keep = n;
  }
  double kept = 0.0;
  for (size_t i = 0; i < keep; ++i) kept += probs[i];
  double u = rng.uniform() * kept;
  for (size_t i = 0; i < keep; ++i)
    if ((u -= probs[i]) < 0.0) return order[i];
  return order[keep - 1];
}

// Rows shaped like a dummy model's (nearly flat), a real model's (a few tokens far ahead), and
// rows with ties (logits rounded to a coarse grid, so many tokens share each value).
std::vector<float> make_row(int shape, size_t vocab, std::mt19937_64& rng) {
  std::normal_distribution<float> normal(0.0f, shape == 0 ? 0.05f : 2.0f);
  std::vector<float> row(vocab);
  for (float& x : row) x = normal(rng);
  if (shape == 1)
    for (int k = 0; k < 5; ++k) row[rng() % vocab] += 12.0f - 2.0f * static_cast<float>(k);
  if (shape == 2)
    for (float& x : row) x = std::round(x * 2.0f) / 2.0f;
  return row;
}

TEST(SamplerReference, EveryDrawEqualsTheFullySortedSampler) {
  struct Config { float temperature; int32_t top_k; float top_p, min_p; };
  const Config configs[] = {{1.0f, 0, 1.0f, 0.0f},   {0.7f, 0, 0.9f, 0.0f},  {1.3f, 0, 1.0f, 0.05f},
                            {1.0f, 50, 1.0f, 0.0f},  {1.0f, 1, 1.0f, 0.0f},  {0.8f, 40, 0.95f, 0.02f},
                            {2.0f, 5000, 0.5f, 0.0f}, {1.0f, 0, 1e-4f, 0.0f}, {5.0f, 0, 0.8f, 0.3f},
                            {1.0f, 0, 1.0f, 1.0f}};
  std::mt19937_64 rng(20261207);
  int draws = 0;
  // Up to 4096 candidates are sorted whole; past that sample_token bins them (20000, 151936).
  for (size_t vocab : {7u, 100u, 1000u, 20000u, 151936u}) {
    for (int shape = 0; shape < 3; ++shape) {
      const int rows = vocab > 100000 ? 1 : vocab > 10000 ? 3 : 20;  // the reference sorts them all
      for (int r = 0; r < rows; ++r) {
        const std::vector<float> row = make_row(shape, vocab, rng);
        for (const Config& c : configs) {
          SamplingParams p;
          p.temperature = c.temperature, p.top_k = c.top_k, p.top_p = c.top_p, p.min_p = c.min_p;
          for (uint64_t index = 0; index < (vocab > 10000 ? 2u : 4u); ++index) {
            SamplerRng a(r * 131 + shape, index), b(r * 131 + shape, index);
            std::vector<float> logits = row;
            ASSERT_EQ(sample_token(logits, p, {}, {}, a), reference_draw(row, p, b))
                << "vocab " << vocab << " shape " << shape << " row " << r << " T " << c.temperature << " k "
                << c.top_k << " p " << c.top_p << " min_p " << c.min_p << " draw " << index;
            ++draws;
          }
        }
      }
    }
  }
  EXPECT_GT(draws, 5000);
}

}  // namespace
}  // namespace troupe
