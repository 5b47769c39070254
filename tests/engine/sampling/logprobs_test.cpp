// Logprobs are log_softmax of the raw logits: the sampled token's and the best alternatives,
// best first with lower ids first on ties, unaffected by penalties or temperature.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/sampling/logprobs.h"

namespace troupe {
namespace {

TEST(Logprobs, AreTheLogSoftmaxOfTheRawLogits) {
  const std::vector<float> logits{1.0f, 3.0f, -2.0f, 3.0f, 0.5f};
  double z = 0;
  for (float v : logits) z += std::exp(double{v});
  const SampleLogprobs lp = compute_logprobs(logits, 4, 3);
  EXPECT_NEAR(lp.logprob, 0.5 - std::log(z), 1e-6);
  ASSERT_EQ(lp.top.size(), 3u);
  EXPECT_EQ(lp.top[0].token, 1);  // tie with 3: the lower id first
  EXPECT_EQ(lp.top[1].token, 3);
  EXPECT_EQ(lp.top[2].token, 0);
  EXPECT_NEAR(lp.top[0].logprob, 3.0 - std::log(z), 1e-6);
  EXPECT_NEAR(lp.top[2].logprob, 1.0 - std::log(z), 1e-6);
}

TEST(Logprobs, TopNIsCappedByTheVocabularyAndZeroMeansNone) {
  const std::vector<float> logits{0.0f, 1.0f};
  EXPECT_EQ(compute_logprobs(logits, 0, 20).top.size(), 2u);
  EXPECT_TRUE(compute_logprobs(logits, 0, 0).top.empty());
}

TEST(Logprobs, StayFiniteForExtremeLogits) {
  std::vector<float> logits(151936, -1e4f);
  logits[7] = 80.0f;
  const SampleLogprobs lp = compute_logprobs(logits, 8, 1);
  EXPECT_NEAR(lp.top[0].logprob, 0.0f, 1e-6);
  EXPECT_TRUE(std::isfinite(lp.logprob));
  EXPECT_LT(lp.logprob, -1e4f);
}

TEST(PromptLogprobs, RankTheTokenInTheOrderOfTheAlternatives) {
  const std::vector<float> logits{1.0f, 3.0f, -2.0f, 3.0f, 0.5f};
  const PromptTokenLogprobs third = compute_prompt_logprobs(logits, 0, 2);
  EXPECT_EQ(third.token, 0);
  EXPECT_EQ(third.rank, 3);  // after 1 and 3
  EXPECT_FLOAT_EQ(third.logprob, compute_logprobs(logits, 0, 0).logprob);
  ASSERT_EQ(third.top.size(), 2u);
  EXPECT_EQ(third.top[0].token, 1);
  EXPECT_EQ(third.top[1].token, 3);
  // Ties go to the lower id, as in `top`: token 3 ties with 1 and comes second.
  EXPECT_EQ(compute_prompt_logprobs(logits, 3, 0).rank, 2);
  EXPECT_EQ(compute_prompt_logprobs(logits, 1, 0).rank, 1);
  EXPECT_EQ(compute_prompt_logprobs(logits, 2, 0).rank, 5);
  EXPECT_TRUE(compute_prompt_logprobs(logits, 2, 0).top.empty());
}

}  // namespace
}  // namespace troupe
