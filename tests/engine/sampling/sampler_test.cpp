#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "engine/sampling/sampler.h"

namespace troupe {
namespace {

const std::vector<float> kLogits = {1.0f, 3.0f, 2.0f, -1.0f, 2.9f};

int32_t draw(SamplingParams p, SamplerRng& rng, std::vector<int32_t> output = {}) {
  std::vector<float> l = kLogits;
  return sample_token(l, p, {}, output, rng);
}

TEST(Sampler, TemperatureZeroIsArgmax) {
  SamplingParams p;
  p.temperature = 0.0f;
  SamplerRng rng(1);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(draw(p, rng), 1);
}

TEST(Sampler, LogitBiasMovesTheArgmaxAndMinTokensMasksStopIds) {
  SamplingParams p;
  p.temperature = 0.0f;
  SamplerRng rng(1);
  p.logit_bias = {{3, 5.0f}};  // -1 + 5 = 4 beats 3
  EXPECT_EQ(draw(p, rng), 3);
  // Stop ids are -inf while fewer than min_tokens outputs exist, then drawn again.
  p.stop_token_ids = {3, 1};
  p.min_tokens = 2;
  EXPECT_EQ(draw(p, rng, {}), 4);
  EXPECT_EQ(draw(p, rng, {0}), 4);
  EXPECT_EQ(draw(p, rng, {0, 0}), 3);
  // Sampled draws never pick a masked id either.
  p.temperature = 5.0f;
  for (int i = 0; i < 200; ++i) {
    const int32_t t = draw(p, rng, {0});
    EXPECT_TRUE(t != 3 && t != 1) << t;
  }
}

TEST(Sampler, SameSeedSameTokensOtherSeedOtherTokens) {
  SamplingParams p;
  p.temperature = 2.0f;
  auto run = [&](uint64_t seed) {
    SamplerRng rng(seed);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(draw(p, rng));
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(Sampler, FrequenciesFollowTheSoftmax) {
  SamplingParams p;
  p.temperature = 1.0f;
  SamplerRng rng(7);
  std::map<int32_t, int> counts;
  const int n = 40000;
  for (int i = 0; i < n; ++i) ++counts[draw(p, rng)];
  double z = 0;
  for (float l : kLogits) z += std::exp(l);
  for (int32_t id = 0; id < 5; ++id)
    EXPECT_NEAR(counts[id] / double(n), std::exp(kLogits[id]) / z, 0.01) << "token " << id;
}

TEST(Sampler, TopKKeepsOnlyTheKBest) {
  SamplingParams p;
  p.temperature = 5.0f;
  p.top_k = 2;
  SamplerRng rng(3);
  std::map<int32_t, int> counts;
  for (int i = 0; i < 2000; ++i) ++counts[draw(p, rng)];
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[4], 0);
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingP) {
  SamplingParams p;
  p.top_p = 0.5f;  // p(1) ~ 0.38, p(4) ~ 0.35: the first two reach 0.5
  SamplerRng rng(5);
  std::map<int32_t, int> counts;
  for (int i = 0; i < 2000; ++i) ++counts[draw(p, rng)];
  EXPECT_EQ(counts.size(), 2u);
  p.top_p = 0.01f;
  for (int i = 0; i < 100; ++i) EXPECT_EQ(draw(p, rng), 1);
}

TEST(Sampler, MinPDropsTokensFarBelowTheBest) {
  SamplingParams p;
  p.min_p = 0.5f;  // keeps tokens with p >= 0.5 p(best): 1, 4 and 2 (e^-1 = 0.37 < 0.5 drops 2)
  SamplerRng rng(9);
  std::map<int32_t, int> counts;
  for (int i = 0; i < 2000; ++i) ++counts[draw(p, rng)];
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts.count(2), 0u);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  std::vector<float> l = kLogits;
  const std::vector<int32_t> prompt = {1}, output = {3};
  apply_penalties(l, p, prompt, output);
  EXPECT_FLOAT_EQ(l[1], 1.5f);
  EXPECT_FLOAT_EQ(l[3], -2.0f);
  EXPECT_FLOAT_EQ(l[2], 2.0f);
}

TEST(Sampler, PresenceAndFrequencyPenaltiesCountOnlyGeneratedTokens) {
  SamplingParams p;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  std::vector<float> l = kLogits;
  const std::vector<int32_t> prompt = {0}, output = {1, 1, 2};
  apply_penalties(l, p, prompt, output);
  EXPECT_FLOAT_EQ(l[0], 1.0f);
  EXPECT_FLOAT_EQ(l[1], 3.0f - 0.5f - 2 * 0.25f);
  EXPECT_FLOAT_EQ(l[2], 2.0f - 0.5f - 0.25f);
}

TEST(Sampler, PenaltiesApplyUnderGreedyToo) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.frequency_penalty = 2.0f;
  SamplerRng rng(1);
  EXPECT_EQ(draw(p, rng, {1}), 4);  // 3 - 2 = 1 falls below 2.9
}

TEST(SamplingParams, ValidateNamesTheField) {
  SamplingParams p;
  EXPECT_EQ(p.validate(), "");
  p.top_p = 0.0f;
  EXPECT_NE(p.validate().find("top_p"), std::string::npos);
  p = {};
  p.temperature = -1.0f;
  EXPECT_NE(p.validate().find("temperature"), std::string::npos);
  p = {};
  p.max_tokens = 0;
  EXPECT_NE(p.validate().find("max_tokens"), std::string::npos);
  p = {};
  p.logit_bias = {{4, 1.0f}, {2, -1.0f}, {4, 2.0f}};  // the GPU adds a row's biases in parallel
  EXPECT_NE(p.validate().find("logit_bias"), std::string::npos);
}

TEST(Sampler, MaskedStopIdsAreTheStopIdsBelowMinTokensOnly) {
  SamplingParams p;
  p.stop_token_ids = {7, 2};
  EXPECT_TRUE(masked_stop_ids(p, 0).empty()) << "min_tokens 0 masks nothing";
  p.min_tokens = 2;
  EXPECT_EQ(std::vector<int32_t>(masked_stop_ids(p, 0).begin(), masked_stop_ids(p, 0).end()), p.stop_token_ids);
  EXPECT_EQ(masked_stop_ids(p, 1).size(), 2u);
  EXPECT_TRUE(masked_stop_ids(p, 2).empty()) << "the min_tokens-th output may stop";
}

}  // namespace
}  // namespace troupe
