// Several sequences in one step, with scattered physical blocks, compute what each computes alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "engine/model/sequence_generator.h"
#include "fixture_model.h"

namespace troupe {
namespace {

TEST(BatchedForward, MixedPrefillAndDecodeInOneStepMatchSequencesAlone) {
  CpuModel model = test::load_fixture_model("tiny-llama3");
  const auto refs = test::load_reference("tiny-llama3");
  constexpr int32_t kBlock = 4;
  // Hand out physical blocks in a shuffled order so no sequence's blocks are contiguous.
  KvCacheStorage cache(model.config(), 128, kBlock);
  std::vector<int32_t> free_blocks(cache.num_blocks());
  std::iota(free_blocks.begin(), free_blocks.end(), 0);
  std::shuffle(free_blocks.begin(), free_blocks.end(), std::mt19937(7));
  auto take = [&](int32_t tokens) {
    std::vector<int32_t> table;
    for (int32_t i = 0; i < (tokens + kBlock - 1) / kBlock; ++i) {
      table.push_back(free_blocks.back());
      free_blocks.pop_back();
    }
    return table;
  };

  // Step 1: prefill every prompt but the last token; step 2: the last token of every prompt
  // (a decode-shaped step for the long ones, a 1-token prefill for the 1-token prompt).
  std::vector<std::vector<int32_t>> tables;
  ForwardBatch first;
  for (const auto& r : refs) {
    tables.push_back(take(static_cast<int32_t>(r.ids.size())));
    const auto n = static_cast<int32_t>(r.ids.size()) - 1;
    if (n > 0) first.add_sequence(r.ids.data(), n, n, tables.back(), kBlock, false);
  }
  EXPECT_TRUE(model.forward(first, cache).empty());
  ForwardBatch second;
  for (size_t i = 0; i < refs.size(); ++i) {
    const auto n = static_cast<int32_t>(refs[i].ids.size());
    second.add_sequence(&refs[i].ids[n - 1], 1, n, tables[i], kBlock, true);
  }
  const std::vector<float> batched = model.forward(second, cache);
  const int64_t vocab = model.config().vocab_size;
  ASSERT_EQ(batched.size(), refs.size() * vocab);
  for (size_t i = 0; i < refs.size(); ++i) {
    const auto alone = SequenceGenerator(model, {}).prompt_logits(refs[i].ids);
    for (int64_t v = 0; v < vocab; ++v)
      ASSERT_NEAR(batched[i * vocab + v], alone[v], 1e-4f * std::max(1.0f, std::abs(alone[v])))
          << "sequence " << i;
  }
}

TEST(BatchedForward, RejectsTokenIdsOutsideTheVocabulary) {
  CpuModel model = test::load_fixture_model("tiny-qwen2");
  KvCacheStorage cache(model.config(), 4, 16);
  ForwardBatch batch;
  const int32_t bad = static_cast<int32_t>(model.config().vocab_size);
  batch.add_sequence(&bad, 1, 1, {0}, 16, true);
  EXPECT_THROW(model.forward(batch, cache), std::invalid_argument);
}

}  // namespace
}  // namespace troupe
