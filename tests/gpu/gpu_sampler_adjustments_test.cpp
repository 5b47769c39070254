// logit_bias and min_tokens on the GPU against the CPU's sample_token on the same logits. Rows go
// the GPU backend's way (device_sampler_row, then DeviceSampler): the device must pick the CPU's
// token for greedy and seeded rows, leave the same adjusted and penalized logits bit for bit, and
// report the log-probability of the raw logits. The last test runs the backend on a fixture model
// with each step launched ahead of the one before: such a row's output is one short, and
// min_tokens must count its output index instead. Every test skips without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "engine/model/checkpoint.h"
#include "engine/model/model_config.h"
#include "engine/runtime/device_sampler_row.h"
#include "engine/runtime/gpu_backend.h"
#include "engine/sampling/logprobs.h"
#include "engine/sampling/sampler.h"
#include "engine/scheduler/step_plan.h"  // kTokenSampledByExecutor
#include "gpu_test_util.h"                       // fixtures_dir
#include "kernels/cuda/device_sampler.h"
#include "tests/kernels/cuda_sampling_inputs.h"  // make_rows, Shape, DeviceArray, parallel_for

namespace troupe {
namespace {

#define REQUIRE_DEVICE() \
  if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device found"

constexpr int32_t kForced = 17;  // a token the tests force with +100

// One row sampled on both sides; output.size() is its output index.
struct Row {
  SamplingParams params;
  uint64_t seed = 0;
  std::vector<int32_t> prompt, output;
};

struct Sampled {
  std::vector<int32_t> tokens;
  std::vector<float> logits;   // [rows, vocab] after sampling: adjusted and penalized in place
  std::vector<float> logprob;  // [rows], of each sampled token in the raw logits
};

Sampled on_gpu(const std::vector<Row>& rows, const std::vector<float>& logits, int64_t vocab) {
  std::vector<cuda::SamplerRow> device_rows;
  for (const Row& r : rows)
    device_rows.push_back(device_sampler_row({&r.params, r.seed, r.output.size(), r.prompt, r.output}));
  DeviceArray<float> d(logits);
  cuda::DeviceSampler sampler(vocab, static_cast<int64_t>(rows.size()));
  const cuda::SamplerOutput& out = sampler.sample(d.ptr, device_rows, /*num_top=*/0, nullptr);
  return {out.tokens, d.get(logits.size()), out.logprob};
}

Sampled on_cpu(const std::vector<Row>& rows, const std::vector<float>& logits, int64_t vocab) {
  const auto n = static_cast<int64_t>(rows.size());
  Sampled s{std::vector<int32_t>(n), logits, std::vector<float>(n)};
  parallel_for(n, [&](int64_t i) {
    const Row& r = rows[i];
    const std::span<float> row = std::span<float>(s.logits).subspan(i * vocab, vocab);
    const std::vector<float> raw(row.begin(), row.end());
    SamplerRng rng(r.seed, r.output.size());
    s.tokens[i] = sample_token(row, r.params, r.prompt, r.output, rng);
    s.logprob[i] = compute_logprobs(raw, s.tokens[i], 0).logprob;
  });
  return s;
}

// The two sides agree on every row; returns the device's tokens.
std::vector<int32_t> expect_same(const std::vector<Row>& rows, const std::vector<float>& logits, int64_t vocab) {
  const Sampled gpu = on_gpu(rows, logits, vocab);
  const Sampled cpu = on_cpu(rows, logits, vocab);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(gpu.tokens[i], cpu.tokens[i]) << "row " << i;
    EXPECT_NEAR(gpu.logprob[i], cpu.logprob[i], 1e-4) << "row " << i;
    int64_t differ = 0;
    for (int64_t j = i * vocab; j < static_cast<int64_t>(i + 1) * vocab; ++j)
      differ += std::memcmp(&gpu.logits[j], &cpu.logits[j], sizeof(float)) != 0;
    EXPECT_EQ(differ, 0) << "row " << i << ": logits left differently after bias, mask and penalties";
  }
  return gpu.tokens;
}

int32_t argmax_of(const std::vector<float>& logits, int64_t vocab, int64_t row) {
  const auto begin = logits.begin() + row * vocab;
  return static_cast<int32_t>(std::max_element(begin, begin + vocab) - begin);
}

Row row(float temperature, uint64_t seed, std::vector<std::pair<int32_t, float>> bias = {}) {
  Row r;
  r.params.temperature = temperature;
  r.params.logit_bias = std::move(bias);
  r.seed = seed;
  return r;
}

TEST(GpuSamplerAdjustments, ForcedAndBannedTokensMatchTheCpu) {
  REQUIRE_DEVICE();
  constexpr int64_t kVocab = 32000;
  const std::vector<float> logits = make_rows(8, kVocab, 11, [](int64_t r) { return static_cast<Shape>(r % 4); });
  auto top = [&](int64_t r) { return argmax_of(logits, kVocab, r); };
  std::vector<Row> rows = {
      row(0.0f, 1, {{kForced, 100.0f}}),              // greedy, forced
      row(0.0f, 2, {{top(1), -100.0f}}),              // greedy, the best banned
      row(1.0f, 3, {{kForced, 100.0f}}),              // seeded, forced
      row(1.0f, 4, {{top(3), -100.0f}}),              // seeded, the best banned
      row(0.7f, 5, {{top(4), -100.0f}, {kForced, 5.0f}}),
      row(1.2f, 6),
      row(1.0f, 7, {{kForced, 4.0f}, {top(6), 2.5f}}),
      row(0.0f, 8, {{top(7), 2.0f}}),
  };
  rows[4].params.top_p = 0.9f;
  std::mt19937 rng(5);
  for (int i = 0; i < 30; ++i)  // distinct ids: i * 997 stays below the vocabulary
    rows[5].params.logit_bias.push_back({i * 997 + 1, std::uniform_real_distribution<float>(-10.0f, 10.0f)(rng)});
  rows[5].params.top_k = 40;
  // Bias before penalties: a biased token that was generated is then penalized.
  rows[6].params.min_p = 0.1f;
  rows[6].params.repetition_penalty = 1.3f;
  rows[6].params.presence_penalty = 0.5f;
  rows[6].prompt = {top(6)};
  rows[6].output = {kForced, kForced, 3};
  rows[7].params.frequency_penalty = 1.0f;
  rows[7].output = {top(7), top(7)};

  const std::vector<int32_t> tokens = expect_same(rows, logits, kVocab);
  EXPECT_EQ(tokens[0], kForced);
  EXPECT_NE(tokens[1], top(1));
  EXPECT_EQ(tokens[2], kForced);
  EXPECT_NE(tokens[3], top(3));
}

TEST(GpuSamplerAdjustments, MinTokensHoldsStopIdsOffBelowItAndNotAtIt) {
  REQUIRE_DEVICE();
  constexpr int64_t kVocab = 32000;
  const std::vector<float> logits = make_rows(7, kVocab, 12, [](int64_t r) { return static_cast<Shape>(r % 4); });
  auto top = [&](int64_t r) { return argmax_of(logits, kVocab, r); };
  std::vector<Row> rows;
  // Greedy, the best token a stop id: held off at outputs 0..2, drawn at the third.
  for (int32_t done = 0; done <= 3; ++done) {
    Row r = row(0.0f, 20 + done);
    r.params.stop_token_ids = {top(done), 5, 6};
    r.params.min_tokens = 3;
    r.output.assign(done, 9);
    rows.push_back(r);
  }
  // Seeded, an EOS forced by +100: not before min_tokens, certain at it.
  for (int32_t done = 1; done <= 2; ++done) {
    Row r = row(1.0f, 30 + done, {{kForced, 100.0f}});
    r.params.stop_token_ids = {kForced};
    r.params.min_tokens = 2;
    r.output.assign(done, 9);
    rows.push_back(r);
  }
  // Seeded with top-p, the five best all stop ids.
  Row r = row(1.5f, 40);
  r.params.top_p = 0.95f;
  r.params.min_tokens = 4;
  r.output = {1};
  std::vector<int32_t> order(kVocab);
  for (int32_t i = 0; i < kVocab; ++i) order[i] = i;
  const auto row6 = logits.begin() + 6 * kVocab;
  std::partial_sort(order.begin(), order.begin() + 5, order.end(), [&](int32_t a, int32_t b) { return row6[a] > row6[b]; });
  r.params.stop_token_ids.assign(order.begin(), order.begin() + 5);
  rows.push_back(r);

  const std::vector<int32_t> tokens = expect_same(rows, logits, kVocab);
  for (int32_t done = 0; done < 3; ++done) EXPECT_NE(tokens[done], top(done)) << done << " outputs";
  EXPECT_EQ(tokens[3], top(3)) << "at min_tokens the stop id is drawn again";
  EXPECT_NE(tokens[4], kForced);
  EXPECT_EQ(tokens[5], kForced);
  for (int32_t id : rows[6].params.stop_token_ids) EXPECT_NE(tokens[6], id);
}

// A served batch's mix: most rows plain, some with biases (a few at +-100), stop ids below or at
// min_tokens, penalties, every filter; Qwen's vocabulary.
TEST(GpuSamplerAdjustments, SixtyFourMixedRowsMatchTheCpu) {
  REQUIRE_DEVICE();
  constexpr int64_t kVocab = 151936;
  constexpr int64_t kRows = 64;
  const std::vector<float> logits = make_rows(kRows, kVocab, 13, [](int64_t r) { return static_cast<Shape>(r % 4); });
  std::mt19937 rng(6);
  auto pick = [&](int32_t n) { return static_cast<int32_t>(rng() % static_cast<uint32_t>(n)); };
  std::vector<Row> rows(kRows);
  for (int64_t i = 0; i < kRows; ++i) {
    Row& r = rows[i];
    const float temperatures[] = {0.0f, 0.7f, 1.0f, 1.3f};
    r.params.temperature = temperatures[pick(4)];
    r.params.top_k = pick(3) == 0 ? 40 : 0;
    r.params.top_p = pick(3) == 0 ? 0.9f : 1.0f;
    r.params.min_p = pick(4) == 0 ? 0.05f : 0.0f;
    r.seed = 1000 + i;
    r.output.resize(pick(6));
    for (int32_t& t : r.output) t = pick(kVocab);
    if (pick(4) == 0) r.params.repetition_penalty = 1.2f;
    if (pick(4) == 0) r.params.frequency_penalty = 0.5f;
    if (pick(2) == 0) {
      const int32_t n = pick(40), stride = kVocab / 41;
      for (int32_t j = 0; j < n; ++j) {
        const float b = pick(8) == 0 ? (pick(2) ? 100.0f : -100.0f) : static_cast<float>(pick(2001) - 1000) / 100.0f;
        r.params.logit_bias.push_back({j * stride + pick(stride), b});
      }
    }
    if (pick(2) == 0) {
      r.params.stop_token_ids = {argmax_of(logits, kVocab, i), pick(kVocab)};
      r.params.min_tokens = pick(5);
    }
  }
  expect_same(rows, logits, kVocab);
}

// GpuBackend, steps launched ahead as the executor launches them: each row's output is empty (the
// tokens are in flight), its output index counts them. A +100 bias forces a stop id, which
// min_tokens = 3 holds off for exactly the first three tokens.
TEST(GpuSamplerAdjustments, PipelinedStepsCountMinTokensByOutputIndex) {
  REQUIRE_DEVICE();
  const auto dir = fixtures_dir() / "models" / "tiny-qwen2";
  const ModelConfig config = load_model_config(dir / "config.json");
  const Checkpoint checkpoint = Checkpoint::open(dir);
  const GpuBackendOptions o{.device = 0, .memory_utilization = 0.5, .max_num_seqs = 8, .max_num_batched_tokens = 256,
                            .block_size = 16, .num_blocks = 64, .cuda_graphs = true, .tune_gemms = false};
  const std::shared_ptr<ModelBackend> backend = make_gpu_backend(config, &checkpoint, 0, o);
  ModelBackend& b = *backend;
  ASSERT_TRUE(b.applies_logit_adjustments()) << "the HTTP layer would refuse logit_bias and min_tokens";
  ASSERT_TRUE(b.pipelines());
  SamplingParams p;
  p.temperature = 0.0f;
  p.logit_bias = {{kForced, 100.0f}};
  p.stop_token_ids = {kForced};
  p.min_tokens = 3;
  b.allocate_kv_cache(64, 16);
  const std::vector<int32_t> prompt = {3, 1, 4, 1, 5, 9, 2}, table = {0, 1};
  const auto len = static_cast<int32_t>(prompt.size());
  ForwardBatch prefill;
  prefill.add_sequence(prompt.data(), len, len, table, 16, true);
  const SamplingRow first{&p, 0, 0, prompt, {}};
  b.launch(prefill, {&first, 1}, {});
  std::vector<int32_t> out;
  constexpr int32_t kSteps = 6;
  for (int32_t k = 1; k < kSteps; ++k) {
    ForwardBatch step;
    const int32_t token = kTokenSampledByExecutor;
    step.add_sequence(&token, 1, len + k, table, 16, true);
    const SamplingRow next{&p, 0, static_cast<uint64_t>(k), prompt, {}};
    const DeferredToken deferred{0, 0};
    b.launch(step, {&next, 1}, {&deferred, 1});
    out.push_back(b.collect().tokens.at(0));
  }
  out.push_back(b.collect().tokens.at(0));
  ASSERT_EQ(out.size(), size_t{kSteps});
  for (int32_t k = 0; k < 3; ++k) EXPECT_NE(out[k], kForced) << "output " << k;
  for (int32_t k = 3; k < kSteps; ++k) EXPECT_EQ(out[k], kForced) << "output " << k;
}

}  // namespace
}  // namespace troupe
