// A model cut into pipeline stages computes what the whole model computes: each stage holds only
// its own tensors (and KV cache layers), and running the stages one after the other over a batch
// of prefills, decodes and chunked prefills gives the whole model's logits bit for bit. Bit for
// bit, not within a tolerance: a stage runs the same kernels on the same values in the same order
// (the residual stream is copied between stages, never recomputed or narrowed), so any difference
// at all would mean a stage read a wrong weight, layer or cache block.
#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <ostream>
#include <random>
#include <string>

#include "engine/model/layer_split.h"
#include "engine/model/weight_layout.h"
#include "fixture_model.h"

namespace troupe {
namespace {

// (tests/engine/cluster/placement_test.cpp pins more of vLLM's sizes.)
TEST(SplitLayers, SizesDifferByAtMostOneAndTheLastStageNeverTakesAnExtraLayer) {
  EXPECT_EQ(split_layers(4, 1), (std::vector<LayerRange>{{0, 4}}));
  EXPECT_EQ(split_layers(4, 2), (std::vector<LayerRange>{{0, 2}, {2, 4}}));
  EXPECT_EQ(split_layers(4, 3), (std::vector<LayerRange>{{0, 1}, {1, 3}, {3, 4}}));
  EXPECT_EQ(split_layers(7, 3), (std::vector<LayerRange>{{0, 2}, {2, 5}, {5, 7}}));
  EXPECT_EQ(split_layers(32, 5), (std::vector<LayerRange>{{0, 6}, {6, 12}, {12, 19}, {19, 26}, {26, 32}}));
  EXPECT_EQ(split_layers(3, 3), (std::vector<LayerRange>{{0, 1}, {1, 2}, {2, 3}}));
  for (int64_t layers = 1; layers <= 40; ++layers) {
    for (int32_t stages = 1; stages <= layers; ++stages) {
      const auto split = split_layers(layers, stages);
      ASSERT_EQ(static_cast<int32_t>(split.size()), stages);
      EXPECT_EQ(split.front().begin, 0);
      EXPECT_EQ(split.back().end, layers);
      const int64_t base = layers / stages;
      for (size_t s = 0; s < split.size(); ++s) {
        EXPECT_TRUE(split[s].size() == base || split[s].size() == base + 1);
        if (s > 0) {
          EXPECT_EQ(split[s].begin, split[s - 1].end);
        }
      }
      EXPECT_EQ(split.back().size(), base) << "the last stage runs the LM head: no extra layer";
    }
  }
}

TEST(SplitLayers, RejectsMoreStagesThanLayersAndNoStages) {
  EXPECT_THROW(split_layers(3, 4), std::invalid_argument);
  EXPECT_THROW(split_layers(3, 0), std::invalid_argument);
}

// A model to cut: a committed fixture (its checkpoint) or a fixture's shape with more layers and
// dummy weights (so pp = 4 and 5 have layers to split).
struct StagedModel {
  std::string name;
  ModelConfig config;
  std::function<ModelWeights(LayerRange)> weights;
};

StagedModel fixture(const std::string& name) {
  const auto dir = test::fixture_model_dir(name);
  ModelConfig config = load_model_config(dir / "config.json");
  auto checkpoint = std::make_shared<Checkpoint>(Checkpoint::open(dir));
  return {name, config, [config, checkpoint](LayerRange r) { return load_weights(config, *checkpoint, r); }};
}

StagedModel deeper_dummy(const std::string& name, int64_t num_layers) {
  ModelConfig config = load_model_config(test::fixture_model_dir(name) / "config.json");
  config.num_layers = num_layers;
  return {name + "-" + std::to_string(num_layers) + "-layers-dummy", config,
          [config](LayerRange r) { return dummy_weights(config, 1234, r); }};
}

// Three steps over one block pool: prompt A whole and prompt B's first chunk; A's first decode, B's
// last chunk and prompt C whole; then a decode of each. Physical blocks are handed out shuffled.
std::vector<ForwardBatch> three_steps(int64_t vocab, int32_t block_size) {
  std::mt19937 rng(5);
  std::vector<int32_t> blocks(64);
  std::iota(blocks.begin(), blocks.end(), 0);
  std::shuffle(blocks.begin(), blocks.end(), rng);
  auto tokens = [&](int n) {
    std::vector<int32_t> t(n);
    for (auto& x : t) x = std::uniform_int_distribution<int32_t>(0, static_cast<int32_t>(vocab) - 1)(rng);
    return t;
  };
  auto table = [&](int n_blocks) {
    std::vector<int32_t> t(blocks.end() - n_blocks, blocks.end());
    blocks.resize(blocks.size() - n_blocks);
    return t;
  };
  const auto a = tokens(11), b = tokens(23), c = tokens(6), next = tokens(4);
  const auto ta = table(4), tb = table(6), tc = table(3);
  std::vector<ForwardBatch> steps(3);
  steps[0].add_sequence(a.data(), 11, 11, ta, block_size, true);
  steps[0].add_sequence(b.data(), 9, 9, tb, block_size, false);
  steps[1].add_sequence(&next[0], 1, 12, ta, block_size, true);
  steps[1].add_sequence(b.data() + 9, 14, 23, tb, block_size, true);
  steps[1].add_sequence(c.data(), 6, 6, tc, block_size, true);
  steps[2].add_sequence(&next[1], 1, 13, ta, block_size, true);
  steps[2].add_sequence(&next[2], 1, 24, tb, block_size, true);
  steps[2].add_sequence(&next[3], 1, 7, tc, block_size, true);
  return steps;
}

struct StagesCase {
  StagedModel model;
  int32_t num_stages;
};

void PrintTo(const StagesCase& c, std::ostream* os) { *os << c.model.name << " in " << c.num_stages << " stages"; }

class PipelineStages : public ::testing::TestWithParam<StagesCase> {};

TEST_P(PipelineStages, RunInSequenceGiveTheWholeModelsLogitsBitForBit) {
  const auto& [m, num_stages] = GetParam();
  constexpr int32_t kBlock = 4;
  CpuModel whole(m.config, m.weights(all_layers(m.config)));
  KvCacheStorage whole_cache(m.config, 64, kBlock);
  std::vector<std::unique_ptr<CpuModel>> stages;
  std::vector<KvCacheStorage> caches;
  for (LayerRange r : split_layers(m.config.num_layers, num_stages)) {
    stages.push_back(std::make_unique<CpuModel>(m.config, m.weights(r)));
    caches.emplace_back(m.config, r, 64, kBlock);
  }
  for (const ForwardBatch& step : three_steps(m.config.vocab_size, kBlock)) {
    const std::vector<float> expected = whole.forward(step, whole_cache);
    ForwardBatch b = step;
    for (size_t s = 0; s + 1 < stages.size(); ++s) {
      b.hidden_states = stages[s]->forward_hidden(b, caches[s]);
      ASSERT_EQ(b.hidden_states.size(), static_cast<size_t>(b.num_tokens() * m.config.hidden_size));
    }
    const std::vector<float> got = stages.back()->forward(b, caches.back());
    ASSERT_EQ(got.size(), expected.size());
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)), 0)
        << m.name << " in " << num_stages << " stages: logits differ";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, PipelineStages,
    ::testing::Values(StagesCase{fixture("tiny-llama3"), 2}, StagesCase{fixture("tiny-llama3"), 3},
                      StagesCase{fixture("tiny-qwen2"), 2}, StagesCase{deeper_dummy("tiny-llama3", 5), 2},
                      StagesCase{deeper_dummy("tiny-llama3", 5), 4}, StagesCase{deeper_dummy("tiny-llama3", 5), 5},
                      StagesCase{deeper_dummy("tiny-qwen2", 4), 3}, StagesCase{deeper_dummy("tiny-qwen2", 4), 4}),
    [](const ::testing::TestParamInfo<StagesCase>& info) {
      std::string n = info.param.model.name + "_pp" + std::to_string(info.param.num_stages);
      for (char& ch : n)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

bool same(const Matrix& a, const Matrix& b) {
  return a.rows == b.rows && a.cols == b.cols && a.data == b.data;
}

TEST(StageWeights, EachStageHoldsOnlyItsLayersAndItsEndsTensors) {
  // Untied (Llama): the embedding on stage 0 only, the LM head on the last only.
  const StagedModel llama = fixture("tiny-llama3");
  const auto split = split_layers(3, 3);
  const ModelWeights first = llama.weights(split[0]), middle = llama.weights(split[1]), last = llama.weights(split[2]);
  EXPECT_FALSE(first.embed.data.empty());
  EXPECT_TRUE(first.final_norm.data.empty());
  EXPECT_TRUE(first.lm_head.data.empty());
  EXPECT_TRUE(middle.embed.data.empty());
  EXPECT_TRUE(middle.lm_head.data.empty());
  EXPECT_TRUE(middle.final_norm.data.empty());
  EXPECT_TRUE(last.embed.data.empty());
  EXPECT_FALSE(last.lm_head.data.empty());
  EXPECT_FALSE(last.final_norm.data.empty());
  for (const ModelWeights* w : {&first, &middle, &last}) EXPECT_EQ(w->layers.size(), 1u);
  EXPECT_EQ(middle.layer_range, (LayerRange{1, 2}));
  // Tied (Qwen2): the last stage holds the embedding matrix, as its LM head.
  const StagedModel qwen = fixture("tiny-qwen2");
  const ModelWeights q_last = qwen.weights({1, 2});
  const ModelWeights q_whole = qwen.weights({0, 2});
  EXPECT_TRUE(q_last.lm_head.data.empty());
  EXPECT_TRUE(same(q_last.output(), q_whole.embed));
  EXPECT_EQ(weight_layout(qwen.config, {0, 1}).size() + weight_layout(qwen.config, {1, 2}).size(),
            weight_layout(qwen.config).size() + 1)  // the tied embedding, on both ends
      << "every tensor is held by exactly one stage";
}

TEST(StageWeights, DummyWeightsOfAStageEqualTheWholeModelsTensors) {
  for (const char* name : {"tiny-llama3", "tiny-qwen2"}) {
    const StagedModel m = deeper_dummy(name, 5);
    const ModelWeights whole = m.weights(all_layers(m.config));
    for (LayerRange r : split_layers(5, 3)) {
      const ModelWeights stage = m.weights(r);
      for (int64_t i = r.begin; i < r.end; ++i) {
        const LayerWeights &a = stage.layer(i), &b = whole.layer(i);
        EXPECT_TRUE(same(a.input_norm, b.input_norm) && same(a.qkv, b.qkv) && same(a.qkv_bias, b.qkv_bias) &&
                    same(a.o, b.o) && same(a.post_norm, b.post_norm) && same(a.gate_up, b.gate_up) &&
                    same(a.down, b.down))
            << name << " layer " << i;
      }
      if (is_first_stage(r)) {
        EXPECT_TRUE(same(stage.embed, whole.embed)) << name;
      }
      if (is_last_stage(r, m.config)) {
        EXPECT_TRUE(same(stage.output(), whole.output())) << name;
        EXPECT_TRUE(same(stage.final_norm, whole.final_norm)) << name;
      }
    }
  }
}

TEST(StageKvCache, HoldsOnlyItsLayers) {
  const ModelConfig c = deeper_dummy("tiny-llama3", 5).config;
  KvCacheStorage cache(c, {2, 4}, 8, 4);
  EXPECT_NO_THROW(cache.layer(2));
  EXPECT_NO_THROW(cache.layer(3));
  EXPECT_THROW(cache.layer(1), std::logic_error);
  EXPECT_THROW(cache.layer(4), std::logic_error);
  EXPECT_NE(cache.layer(2).k, cache.layer(3).k);
}

TEST(StageForward, WrongEndsAndWrongInputsAreRefused) {
  const StagedModel m = fixture("tiny-llama3");
  CpuModel first(m.config, m.weights({0, 2})), last(m.config, m.weights({2, 3}));
  KvCacheStorage c0(m.config, {0, 2}, 8, 4), c1(m.config, {2, 3}, 8, 4);
  ForwardBatch b;
  const int32_t tokens[] = {5, 6, 7};
  b.add_sequence(tokens, 3, 3, {0}, 4, true);
  EXPECT_THROW(first.forward(b, c0), std::logic_error);       // no LM head here
  EXPECT_THROW(last.forward_hidden(b, c1), std::logic_error);  // the last stage gives logits
  EXPECT_THROW(last.forward(b, c1), std::invalid_argument);    // no hidden states given
  b.hidden_states = first.forward_hidden(b, c0);
  EXPECT_EQ(last.forward(b, c1).size(), static_cast<size_t>(m.config.vocab_size));
}

}  // namespace
}  // namespace troupe
