// The CUDA backend on the GPU: logits against the fp32 CPU path and against transformers in bf16,
// greedy tokens against the CPU where the choice is clear, and the serving invariants (batching,
// chunked prefill, prefix-cache hits, graphs vs eager). Every test skips without a CUDA device.
// scripts/gpu_check.sh runs this on the GPU machine after tests/reference/gpu_reference.py has
// written the transformers references (TROUPE_HF_BF16_DIR) and the wide model (TROUPE_WIDE_MODEL_DIR).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "engine/model/checkpoint.h"
#include "engine/model/cpu_model.h"
#include "engine/runtime/cpu_backend.h"
#include "engine/runtime/gpu_backend.h"
#include "engine/runtime/local_engine.h"
#include "engine/scheduler/step_plan.h"
#include "greedy_compare.h"
#include "gpu_test_util.h"

namespace troupe {
namespace {

namespace fs = std::filesystem;

fs::path model_dir(const std::string& name) {
  if (name == "wide") {
    const char* dir = std::getenv("TROUPE_WIDE_MODEL_DIR");
    return dir ? fs::path(dir) : fs::path();
  }
  return fixtures_dir() / "models" / name;
}

struct Model {
  ModelConfig config;
  std::shared_ptr<CpuModel> cpu_model;
  std::shared_ptr<ModelBackend> gpu;        // graphs on, cuBLASLt's heuristic algorithms
  std::shared_ptr<ModelBackend> gpu_eager;  // graphs off, the same algorithms (compared exactly)
  std::shared_ptr<ModelBackend> gpu_tuned;  // graphs on, algorithms timed at start (serve's default)
  std::unique_ptr<CpuBackend> cpu;
};

// Loading the wide model takes seconds: each model is loaded once for the whole binary.
Model& model(const std::string& name) {
  static std::map<std::string, Model> cache;
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  const fs::path dir = model_dir(name);
  Model m;
  m.config = load_model_config(dir / "config.json");
  const Checkpoint checkpoint = Checkpoint::open(dir);
  ModelWeights w = load_weights(m.config, checkpoint);  // the CPU reference's fp32 copy
  GpuBackendOptions o{.device = 0, .memory_utilization = 0.9, .max_num_seqs = 64, .max_num_batched_tokens = 1024,
                      .block_size = 16, .num_blocks = 1024, .cuda_graphs = true, .tune_gemms = false};
  m.gpu = make_gpu_backend(m.config, &checkpoint, 0, o);
  o.cuda_graphs = false;
  m.gpu_eager = make_gpu_backend(m.config, &checkpoint, 0, o);
  o.cuda_graphs = o.tune_gemms = true;
  m.gpu_tuned = make_gpu_backend(m.config, &checkpoint, 0, o);
  m.cpu_model = std::make_shared<CpuModel>(m.config, std::move(w));
  m.cpu = std::make_unique<CpuBackend>(m.cpu_model);
  return cache.emplace(name, std::move(m)).first->second;
}

// Skips the calling test when it cannot run here.
#define REQUIRE_MODEL(name)                                                                      \
  do {                                                                                           \
    if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device found";                        \
    if (model_dir(name).empty()) GTEST_SKIP() << "TROUPE_WIDE_MODEL_DIR not set (gpu_check.sh)"; \
  } while (0)

std::vector<std::vector<int32_t>> test_prompts(const ModelConfig& c) {
  std::mt19937 rng(7);
  std::vector<std::vector<int32_t>> out;
  for (int len : {1, 7, 16, 37, 100, 300}) {
    std::vector<int32_t> p(len);
    for (auto& t : p) t = static_cast<int32_t>(rng() % c.vocab_size);
    out.push_back(p);
  }
  return out;
}

class GpuModel : public ::testing::TestWithParam<std::string> {};

TEST_P(GpuModel, LastLogitsNearTheFp32CpuPath) {
  REQUIRE_MODEL(GetParam());
  Model& m = model(GetParam());
  for (const auto& ids : test_prompts(m.config)) {
    const auto gpu = prompt_logits(*m.gpu, ids);
    const auto cpu = prompt_logits(*m.cpu, ids);
    const double err = rel_l2(gpu, cpu);
    RecordProperty("rel_l2_" + std::to_string(ids.size()), std::to_string(err));
    EXPECT_LT(err, 2e-2) << "prompt of " << ids.size() << " tokens";
    EXPECT_EQ(rel_l2(prompt_logits(*m.gpu, ids, 16), cpu) < 2e-2, true) << "chunked, prompt of " << ids.size();
  }
}

// References written by tests/reference/gpu_reference.py with transformers in bf16 on this GPU.
TEST_P(GpuModel, LastLogitsMatchTransformersInBf16) {
  REQUIRE_MODEL(GetParam());
  const char* dir = std::getenv("TROUPE_HF_BF16_DIR");
  if (!dir) GTEST_SKIP() << "TROUPE_HF_BF16_DIR not set (scripts/gpu_check.sh writes the references)";
  std::ifstream in(fs::path(dir) / (GetParam() + ".json"));
  ASSERT_TRUE(in) << "no reference for " << GetParam() << " in " << dir;
  const auto ref = nlohmann::json::parse(in);
  Model& m = model(GetParam());
  for (const auto& p : ref.at("prompts")) {
    const auto ids = p.at("ids").get<std::vector<int32_t>>();
    const auto hf_bf16 = p.at("bf16_logits").get<std::vector<float>>();
    const auto hf_fp32 = p.at("fp32_logits").get<std::vector<float>>();
    const auto ours = prompt_logits(*m.gpu, ids);
    const double ours_err = rel_l2(ours, hf_fp32), theirs_err = rel_l2(hf_bf16, hf_fp32);
    std::printf("%s prompt %zu: |ours-hf_bf16| %.2e, |ours-fp32| %.2e, |hf_bf16-fp32| %.2e\n", GetParam().c_str(),
                ids.size(), rel_l2(ours, hf_bf16), ours_err, theirs_err);
    EXPECT_LT(rel_l2(ours, hf_bf16), 3e-2) << "prompt of " << ids.size() << " tokens";
    // No worse than transformers' own bf16 rounding, up to a margin.
    EXPECT_LT(ours_err, 2.0 * theirs_err + 2e-3) << "prompt of " << ids.size() << " tokens";
  }
}

TEST_P(GpuModel, GreedyTokensEqualTheCpuWhereTheChoiceIsClear) {
  REQUIRE_MODEL(GetParam());
  Model& m = model(GetParam());
  int compared = 0;
  for (const auto& prompt : test_prompts(m.config)) {
    const auto gpu = generate(*m.gpu, prompt, 24);
    const auto cpu = generate(*m.cpu, prompt, 24);
    compared += static_cast<int>(expect_equal_up_to_a_near_tie(*m.cpu, prompt, cpu, gpu,
                                                                "prompt of " + std::to_string(prompt.size())));
  }
  EXPECT_GT(compared, 0);
}

TEST_P(GpuModel, SixtyFourMixedRequestsEqualThemselvesAloneAndGraphsEqualEager) {
  REQUIRE_MODEL(GetParam());
  Model& m = model(GetParam());
  const std::vector<GenerationRequest> reqs = random_greedy_requests(11, 64, 200, 1, 40, m.config.vocab_size);
  auto run_all = [&](ModelBackend& b) { return run_batched(b, reqs, 16, 128, 1024); };
  const auto batched = run_all(*m.gpu);
  const auto eager = run_all(*m.gpu_eager);
  ASSERT_EQ(batched.size(), reqs.size());
  int identical = 0;
  for (const auto& r : reqs) {
    const auto alone = generate(*m.gpu, r.prompt_token_ids, r.sampling_params.max_tokens);
    identical += batched.at(r.id) == alone;
    expect_equal_up_to_a_near_tie(*m.gpu, r.prompt_token_ids, alone, batched.at(r.id),
                                  "request " + std::to_string(r.id));
    EXPECT_EQ(batched.at(r.id), eager.at(r.id)) << "request " << r.id;
  }
  std::printf("%s: %d of %zu requests identical batched and alone (the rest part at near-ties)\n",
              GetParam().c_str(), identical, reqs.size());
}

TEST_P(GpuModel, ChunkedPrefillAndPrefixCacheHitsGiveTheSameTokens) {
  REQUIRE_MODEL(GetParam());
  Model& m = model(GetParam());
  std::mt19937 rng(5);
  std::vector<int32_t> shared(256), a, b;
  for (auto& t : shared) t = static_cast<int32_t>(rng() % m.config.vocab_size);
  a = b = shared;
  for (int i = 0; i < 40; ++i) {
    a.push_back(static_cast<int32_t>(rng() % m.config.vocab_size));
    b.push_back(static_cast<int32_t>(rng() % m.config.vocab_size));
  }
  const auto whole = generate(*m.gpu, a, 16);
  expect_equal_up_to_a_near_tie(*m.gpu, a, whole, generate(*m.gpu, a, 16, /*chunk=*/48), "chunked prefill");
  LocalEngine engine(*m.gpu, {.max_num_seqs = 8, .max_num_batched_tokens = 512, .block_size = 16, .num_blocks = 512,
                              .enable_prefix_caching = true, .long_prefill_token_threshold = 0});
  SamplingParams p;
  p.temperature = 0.0f;
  p.max_tokens = 16;
  p.ignore_eos = true;
  engine.add_request({.id = 1, .prompt_token_ids = a, .sampling_params = p, .eos_token_ids = {}, .priority = 0,
                      .arrival = {}, .output_token_ids = {}});
  engine.run_to_completion();
  engine.add_request({.id = 2, .prompt_token_ids = b, .sampling_params = p, .eos_token_ids = {}, .priority = 0,
                      .arrival = {}, .output_token_ids = {}});
  const auto second = engine.run_to_completion();
  EXPECT_EQ(engine.scheduler().stats().num_cached_tokens, 256);
  expect_equal_up_to_a_near_tie(*m.gpu, b, generate(*m.gpu, b, 16), second.at(0).output_token_ids,
                                "after a 256-token prefix-cache hit");
}

// Timed algorithm choice changes only rounding: prompt logits at tuned heights (2, 16, 64 rows)
// and others stay within bf16 noise of the heuristic's, and greedy decoding (graph buckets,
// tuned) agrees up to near-ties.
TEST_P(GpuModel, TunedGemmsChangeOnlyRounding) {
  REQUIRE_MODEL(GetParam());
  Model& m = model(GetParam());
  std::mt19937 rng(9);
  for (size_t len : {2, 16, 37, 64}) {
    std::vector<int32_t> ids(len);
    for (auto& t : ids) t = static_cast<int32_t>(rng() % m.config.vocab_size);
    EXPECT_LT(rel_l2(prompt_logits(*m.gpu_tuned, ids), prompt_logits(*m.gpu, ids)), 1e-2) << "prompt of " << len;
    expect_equal_up_to_a_near_tie(*m.gpu, ids, generate(*m.gpu, ids, 12), generate(*m.gpu_tuned, ids, 12),
                                  "tuned, prompt of " + std::to_string(len));
  }
}

// Logprobs come from the device sampler: the greedy token is the best alternative with the same
// value, and the values agree with the fp32 CPU path within bf16 noise.
TEST_P(GpuModel, LogprobsOfTheRawDistribution) {
  REQUIRE_MODEL(GetParam());
  Model& m = model(GetParam());
  SamplingParams p;
  p.temperature = 0.0f;
  p.logprobs = 5;
  p.repetition_penalty = 1.3f;  // logprobs are of the raw logits: penalties must not show
  for (const auto& ids : test_prompts(m.config)) {
    auto run = [&](ModelBackend& b) {
      const std::vector<int32_t> table = own_blocks(b, static_cast<int32_t>(ids.size()));
      ForwardBatch batch;
      batch.add_sequence(ids.data(), static_cast<int32_t>(ids.size()), static_cast<int32_t>(ids.size()), table, 16, true);
      const SamplingRow row{&p, 1, 0, ids, {}};
      return b.run(batch, std::span(&row, 1));
    };
    const SampledTokens gpu = run(*m.gpu), cpu = run(*m.cpu);
    ASSERT_EQ(gpu.logprobs.size(), 1u);
    const SampleLogprobs& g = gpu.logprobs[0];
    const SampleLogprobs& c = cpu.logprobs[0];
    ASSERT_EQ(g.top.size(), 5u);
    for (size_t i = 1; i < g.top.size(); ++i) EXPECT_GE(g.top[i - 1].logprob, g.top[i].logprob);
    EXPECT_LE(g.top[0].logprob, 0.0f);
    for (size_t i = 0; i < g.top.size(); ++i) EXPECT_NEAR(g.top[i].logprob, c.top[i].logprob, 0.05f + 0.02f * std::abs(c.top[i].logprob));
    // Greedy under a repetition penalty may pick another token than the raw best; its logprob is
    // still the raw one, so it equals the CPU's for the same token.
    if (gpu.tokens[0] == cpu.tokens[0]) {
      EXPECT_NEAR(g.logprob, c.logprob, 0.05f + 0.02f * std::abs(c.logprob));
    }
    if (gpu.tokens[0] == g.top[0].token) {
      EXPECT_EQ(g.logprob, g.top[0].logprob);
    }
  }
}

// Pipelined stepping (what the executor does while the device works): each decode step is
// launched before the previous one is collected, its input token a placeholder that the device
// fills from that step's sampled tokens. The batches are the same as in lock step, so greedy
// tokens must be equal exactly; the step timing must tell device and idle time apart.
TEST_P(GpuModel, PipelinedStepsEqualLockStep) {
  REQUIRE_MODEL(GetParam());
  Model& m = model(GetParam());
  ModelBackend& b = *m.gpu;
  const std::vector<std::vector<int32_t>> prompts = {test_prompts(m.config)[1], test_prompts(m.config)[3],
                                                     test_prompts(m.config)[4]};
  constexpr int32_t kSteps = 24;
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  auto decode = [&](bool pipelined) {
    b.allocate_kv_cache(1024, 16);
    const auto S = static_cast<int32_t>(prompts.size());
    std::vector<std::vector<int32_t>> tables(S), out(S);
    for (int32_t s = 0; s < S; ++s)
      for (int32_t i = 0; i < 16; ++i) tables[s].push_back(s * 16 + i);
    std::vector<SamplingRow> rows;
    for (int32_t s = 0; s < S; ++s) rows.push_back({&greedy, 0, 0, prompts[s], {}});
    ForwardBatch prefill;
    for (int32_t s = 0; s < S; ++s)
      prefill.add_sequence(prompts[s].data(), static_cast<int32_t>(prompts[s].size()),
                           static_cast<int32_t>(prompts[s].size()), tables[s], 16, true);
    auto append = [&](const SampledTokens& t) {
      for (int32_t s = 0; s < S; ++s) out[s].push_back(t.tokens.at(s));
    };
    if (pipelined) b.launch(prefill, rows, {});
    else append(b.run(prefill, rows));
    for (int32_t k = 1; k <= kSteps; ++k) {
      ForwardBatch step;
      std::vector<DeferredToken> deferred;
      for (int32_t s = 0; s < S; ++s) {
        const int32_t token = pipelined ? kTokenSampledByExecutor : out[s].back();
        step.add_sequence(&token, 1, static_cast<int32_t>(prompts[s].size()) + k, tables[s], 16, true);
        if (pipelined) deferred.push_back({s, s});
      }
      if (!pipelined) {
        append(b.run(step, rows));
        continue;
      }
      b.launch(step, rows, deferred);
      append(b.collect());  // the step before, collected after this one was launched
    }
    if (pipelined) append(b.collect());
    return out;
  };
  const auto lock_step = decode(false);
  b.enable_step_timing();
  const auto pipelined = decode(true);
  EXPECT_EQ(pipelined, lock_step);
  for (const auto& o : pipelined) EXPECT_EQ(o.size(), size_t{kSteps} + 1);
  const ModelBackend::StepTiming t = b.last_step_timing();
  EXPECT_GT(t.device_ms, 0.0);
  EXPECT_GE(t.gpu_idle_ms, 0.0);
  EXPECT_GE(t.staging_ms, 0.0);
}

INSTANTIATE_TEST_SUITE_P(Models, GpuModel, ::testing::Values("tiny-llama3", "tiny-qwen2", "wide"));

}  // namespace
}  // namespace troupe
