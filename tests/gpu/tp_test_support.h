#pragma once
// What the GPU tensor-parallel tests share: the models they shard (fixture checkpoints, dummy
// models at Llama-3-8B width), the options their backends take, a prefill-then-decode run that
// returns every step's logits, and the rule a group's logits are held to against tp 1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/model/checkpoint.h"
#include "engine/runtime/gpu_backend.h"
#include "gpu_test_util.h"
#include "kernels/cuda/decoder.h"
#include "tests/comm/on_every_rank.h"

namespace troupe {

inline int devices() { return cuda_device_available() ? cuda::device_count() : 0; }

#define REQUIRE_DEVICES(n)                                                                          \
  do {                                                                                              \
    if (devices() < (n)) GTEST_SKIP() << "needs " << (n) << " CUDA device(s), found " << devices(); \
  } while (0)

using test::on_every_rank;

// Llama-3-8B's width with few layers: hidden 4096, 32 heads of 128, intermediate 14336, vocabulary 128256.
inline ModelConfig wide_config(int64_t kv_heads) {
  ModelConfig c;
  c.architecture = Architecture::Llama;
  c.architecture_name = "LlamaForCausalLM";
  c.vocab_size = 128256;
  c.hidden_size = 4096;
  c.intermediate_size = 14336;
  c.num_layers = 2;
  c.num_heads = 32;
  c.num_kv_heads = kv_heads;
  c.head_dim = 128;
  c.max_position_embeddings = 8192;
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = 500000.0;
  c.rope_scaling = Llama3RopeScaling{};
  c.eos_token_ids = {128001};
  return c;
}

inline GpuBackendOptions test_options() {
  return {.device = 0, .memory_utilization = 0.9, .max_num_seqs = 16, .max_num_batched_tokens = 512,
          .block_size = 16, .num_blocks = 512, .cuda_graphs = true, .tune_gemms = false, .gemm_tuning_cache = {}};
}

// A model to shard: a fixture checkpoint, or dummy weights of `config`.
struct TestModel {
  ModelConfig config;
  std::unique_ptr<Checkpoint> checkpoint;  // null: dummy weights (seed 0)
};

inline TestModel fixture(const std::string& name) {
  const std::filesystem::path dir = fixtures_dir() / "models" / name;
  return {load_model_config(dir / "config.json"), std::make_unique<Checkpoint>(Checkpoint::open(dir))};
}

inline std::vector<int32_t> random_tokens(std::mt19937& rng, size_t n, int64_t vocab) {
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return t;
}

// One prefill step of every prompt together, then decode steps of one (given) token per sequence:
// the logits of every step, [rows, vocab] each, back to back. Sequence s owns blocks [16 s, 16 s + 16).
inline std::vector<float> prefill_then_decode(ModelBackend& b, const std::vector<std::vector<int32_t>>& prompts,
                                       const std::vector<std::vector<int32_t>>& steps) {
  const auto S = static_cast<int32_t>(prompts.size());
  b.allocate_kv_cache(S * 16, 16);
  std::vector<std::vector<int32_t>> tables(static_cast<size_t>(S));
  for (int32_t s = 0; s < S; ++s)
    for (int32_t i = 0; i < 16; ++i) tables[static_cast<size_t>(s)].push_back(s * 16 + i);
  std::vector<float> out;
  ForwardBatch prefill;
  for (int32_t s = 0; s < S; ++s) {
    const auto& p = prompts[static_cast<size_t>(s)];
    prefill.add_sequence(p.data(), static_cast<int32_t>(p.size()), static_cast<int32_t>(p.size()),
                         tables[static_cast<size_t>(s)], 16, true);
  }
  out = b.logits(prefill);
  for (size_t k = 0; k < steps.size(); ++k) {
    ForwardBatch step;
    for (int32_t s = 0; s < S; ++s) {
      const int32_t context = static_cast<int32_t>(prompts[static_cast<size_t>(s)].size() + k + 1);
      step.add_sequence(&steps[k][static_cast<size_t>(s)], 1, context, tables[static_cast<size_t>(s)], 16, true);
    }
    const auto l = b.logits(step);
    out.insert(out.end(), l.begin(), l.end());
  }
  return out;
}

// tp 1's logits ([rows, vocab]) against each rank's at tp: every rank the same bits; within the
// bf16 tolerance the GPU tests hold the CPU's fp32 path to (2e-2 relative L2: each rank rounds its
// partial product to bf16 before the sum, tp 1 rounds the whole product once; measured ~1e-2 at
// 8B width); and the same top token in every row where tp 1's is clear of the runner-up (a
// missing head, a slice off by one or a bias added twice moves those too).
inline void expect_group_matches(const std::vector<float>& tp1, const std::vector<std::vector<float>>& ranks,
                          int64_t vocab, const std::string& what) {
  ASSERT_EQ(ranks[0].size(), tp1.size()) << what;
  const double err = rel_l2(ranks[0], tp1);
  int clear = 0, same = 0;
  for (size_t row = 0; row < tp1.size() / static_cast<size_t>(vocab); ++row) {
    const auto ref = tp1.begin() + static_cast<long>(row * vocab), got = ranks[0].begin() + static_cast<long>(row * vocab);
    std::vector<float> top(ref, ref + vocab);
    std::partial_sort(top.begin(), top.begin() + 2, top.end(), std::greater<>());
    if (top[0] - top[1] < 2e-2f * std::abs(top[0]) + 1e-2f) continue;
    ++clear;
    same += std::max_element(got, got + vocab) - got == std::max_element(ref, ref + vocab) - ref;
  }
  std::printf("%s: rel_l2 to tp 1 %.2e; top token equal in %d of %d rows with a clear one\n", what.c_str(), err, same,
              clear);
  EXPECT_LT(err, 2e-2) << what;
  EXPECT_EQ(same, clear) << what;
  for (size_t r = 1; r < ranks.size(); ++r) EXPECT_EQ(ranks[r], ranks[0]) << what << ": rank " << r << " differs from rank 0";
}

}  // namespace troupe
