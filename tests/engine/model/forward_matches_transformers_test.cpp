// The CPU forward pass against transformers in fp32 (tests/reference/make_model_fixtures.py):
// last-position logits within 1e-4 relative, and 32 greedy tokens identical.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/model/sequence_generator.h"
#include "fixture_model.h"

namespace troupe {
namespace {

class ForwardMatchesTransformers : public ::testing::TestWithParam<std::string> {};

TEST_P(ForwardMatchesTransformers, LastLogitsWithinRelativeTolerance) {
  CpuModel model = test::load_fixture_model(GetParam());
  SequenceGenerator gen(model, {});
  for (const auto& ref : test::load_reference(GetParam())) {
    const std::vector<float> logits = gen.prompt_logits(ref.ids);
    ASSERT_EQ(logits.size(), ref.last_logits.size());
    float scale = 0.0f;
    for (float v : ref.last_logits) scale = std::max(scale, std::abs(v));
    for (size_t i = 0; i < logits.size(); ++i) {
      // Relative to the element, with a floor at 1e-4 of the row's largest logit so values that
      // cross zero are judged against the row's own magnitude.
      const float tol = 1e-4f * std::max(std::abs(ref.last_logits[i]), 1e-1f * scale);
      ASSERT_NEAR(logits[i], ref.last_logits[i], tol)
          << "prompt of " << ref.ids.size() << " tokens, vocab index " << i;
    }
  }
}

TEST_P(ForwardMatchesTransformers, GreedyTokensIdentical) {
  CpuModel model = test::load_fixture_model(GetParam());
  const ModelConfig& c = model.config();
  SequenceGenerator gen(model, {.block_size = 16, .prefill_chunk = 0, .eos_token_ids = c.eos_token_ids});
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  greedy.max_tokens = 32;
  greedy.ignore_eos = true;  // the reference generated 32 tokens without stopping
  for (const auto& ref : test::load_reference(GetParam())) {
    EXPECT_EQ(gen.generate(ref.ids, greedy).ids, ref.greedy) << "prompt of " << ref.ids.size() << " tokens";
  }
}

TEST_P(ForwardMatchesTransformers, ChunkedPrefillGivesTheSameLogits) {
  CpuModel model = test::load_fixture_model(GetParam());
  for (const auto& ref : test::load_reference(GetParam())) {
    const auto whole = SequenceGenerator(model, {.block_size = 16, .prefill_chunk = 0, .eos_token_ids = {}}).prompt_logits(ref.ids);
    for (int32_t chunk : {1, 5, 16}) {
      const auto chunked =
          SequenceGenerator(model, {.block_size = 4, .prefill_chunk = chunk, .eos_token_ids = {}}).prompt_logits(ref.ids);
      ASSERT_EQ(chunked.size(), whole.size());
      for (size_t i = 0; i < whole.size(); ++i)
        ASSERT_NEAR(chunked[i], whole[i], 1e-4f * std::max(1.0f, std::abs(whole[i])))
            << "chunk " << chunk << ", prompt of " << ref.ids.size() << " tokens";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(FixtureModels, ForwardMatchesTransformers,
                         ::testing::Values("tiny-llama3", "tiny-qwen2"));

}  // namespace
}  // namespace troupe
