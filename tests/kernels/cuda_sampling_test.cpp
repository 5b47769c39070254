// GPU sampling (kernels/cuda/sampling) against the CPU sampler (engine/sampling's sample_token):
// same token for greedy rows, seeded rows and penalized rows, the same penalized logits bit for bit,
// and log-probabilities of the raw logits within 1e-4 of a CPU log_softmax.
//
// Seeded draws may differ from the CPU only where u * kept lies within summation rounding
// (~1e-16 relative: the GPU sums masses per bin in fixed point, then in fp64 in another order than
// the CPU's one loop) of a running sum, or where logits are exactly equal (std::sort leaves their
// order unspecified; the GPU takes the lower index first). Rows here have distinct logits, so only
// the first can happen, about 1e-10 per draw for the flattest rows (probabilities near 1e-6): the
// tests allow one mismatch per 2000 draws and print each one.
#include <gtest/gtest.h>

#include "cuda_test_device.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <numeric>
#include <random>
#include <vector>

#include <cuda_runtime_api.h>

#include "cuda_sampling_inputs.h"  // make_row(s), row_params, DrawConfig, DeviceArray
#include "engine/sampling/sampler.h"
#include "kernels/cuda/sampling.h"

namespace {

using troupe::SamplerRng;
using troupe::SamplingParams;
using troupe::cuda::PenaltyTokens;

struct Batch {
  int64_t vocab = 0;
  std::vector<float> logits;  // [rows, vocab]
  std::vector<RowSamplingParams> params;
  std::vector<std::vector<int32_t>> prompt, output;
  int64_t rows() const { return static_cast<int64_t>(params.size()); }
};

struct GpuResult {
  std::vector<int32_t> tokens;
  std::vector<float> logits;  // after the kernel: penalized in place
  std::vector<float> chosen_logprob;
  std::vector<int32_t> top_ids;
  std::vector<float> top_logprobs;
};

GpuResult run_gpu(const Batch& b, int num_top) {
  const int64_t rows = b.rows();
  std::vector<int32_t> ids, row_begin{0}, output_begin;
  for (int64_t r = 0; r < rows; ++r) {
    if (r < static_cast<int64_t>(b.prompt.size()))
      ids.insert(ids.end(), b.prompt[r].begin(), b.prompt[r].end());
    output_begin.push_back(static_cast<int32_t>(ids.size()));
    if (r < static_cast<int64_t>(b.output.size()))
      ids.insert(ids.end(), b.output[r].begin(), b.output[r].end());
    row_begin.push_back(static_cast<int32_t>(ids.size()));
  }
  DeviceArray<float> logits(b.logits);
  DeviceArray<RowSamplingParams> params(b.params);
  DeviceArray<int32_t> d_ids(ids), d_row_begin(row_begin), d_output_begin(output_begin);
  DeviceArray<int32_t> tokens(rows), top_ids(rows * std::max(num_top, 1));
  DeviceArray<float> chosen(rows), top_lp(rows * std::max(num_top, 1));
  PenaltyTokens pen;
  if (!ids.empty())
    pen = {d_ids.ptr, d_row_begin.ptr, d_output_begin.ptr, static_cast<int64_t>(ids.size())};
  const size_t ws_bytes = troupe::cuda::sampling_workspace_bytes(rows, static_cast<int64_t>(ids.size()), 0);
  DeviceArray<char> ws(ws_bytes);
  EXPECT_EQ(troupe::cuda::sample_tokens(tokens.ptr, logits.ptr, params.ptr, pen, {}, chosen.ptr, top_ids.ptr,
                                        top_lp.ptr, num_top, ws.ptr, ws_bytes, rows, b.vocab, nullptr),
            cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  GpuResult out;
  out.tokens = tokens.get(rows);
  out.logits = logits.get(rows * b.vocab);
  out.chosen_logprob = chosen.get(rows);
  out.top_ids = top_ids.get(rows * num_top);
  out.top_logprobs = top_lp.get(rows * num_top);
  return out;
}

SamplingParams to_cpu(const RowSamplingParams& p) {
  SamplingParams s;
  s.temperature = p.temperature;
  s.top_k = p.top_k;
  s.top_p = p.top_p;
  s.min_p = p.min_p;
  s.repetition_penalty = p.repetition_penalty;
  s.presence_penalty = p.presence_penalty;
  s.frequency_penalty = p.frequency_penalty;
  s.seed = p.seed;
  return s;
}

// sample_token on every row.
std::vector<int32_t> run_cpu(const Batch& b, std::vector<float>* penalized = nullptr) {
  const int64_t rows = b.rows();
  std::vector<int32_t> tokens(rows);
  if (penalized) penalized->assign(b.logits.begin(), b.logits.end());
  parallel_for(rows, [&](int64_t r) {
    std::vector<float> row(b.logits.begin() + r * b.vocab, b.logits.begin() + (r + 1) * b.vocab);
    const std::vector<int32_t> none;
    const auto& prompt = r < static_cast<int64_t>(b.prompt.size()) ? b.prompt[r] : none;
    const auto& output = r < static_cast<int64_t>(b.output.size()) ? b.output[r] : none;
    const SamplingParams sp = to_cpu(b.params[r]);
    if (penalized) {
      std::vector<float> pen = row;
      troupe::apply_penalties(pen, sp, prompt, output);
      std::copy(pen.begin(), pen.end(), penalized->begin() + r * b.vocab);
    }
    SamplerRng rng(b.params[r].seed, b.params[r].output_index);
    tokens[r] = troupe::sample_token(row, sp, prompt, output, rng);
  });
  return tokens;
}

TEST(CudaSampling, GreedyIsArgmaxWithLowestIndexOnTies) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  for (int64_t vocab : {151936, 1000, 7}) {
    std::mt19937_64 rng(vocab);
    Batch b;
    b.vocab = vocab;
    const int rows = 48;
    for (int r = 0; r < rows; ++r) {
      std::vector<float> x = make_row(vocab, static_cast<Shape>(r % 4), rng);
      const float top = *std::max_element(x.begin(), x.end());
      if (r % 3 == 1) {  // the maximum repeated at a few places, the first not always first
        for (int k = 0; k < 4; ++k) x[(r * 7919 + k * 104729) % vocab] = top + 1.0f;
      } else if (r % 3 == 2 && r % 2 == 0) {
        std::fill(x.begin(), x.end(), -3.5f);  // every logit equal: index 0
      } else if (r % 3 == 2) {
        x[vocab - 1] = top + 1.0f;
      }
      b.logits.insert(b.logits.end(), x.begin(), x.end());
      b.params.push_back(row_params(r % 2 ? 0.0f : -1.0f, 5, 0.5f, 0.1f, r, r));
    }
    const GpuResult gpu = run_gpu(b, 0);
    const std::vector<int32_t> cpu = run_cpu(b);
    for (int r = 0; r < rows; ++r) EXPECT_EQ(gpu.tokens[r], cpu[r]) << "vocab " << vocab << " row " << r;
  }
}

const DrawConfig kDrawConfigs[] = {
    {1.0f, 0, 1.0f, 0.0f},    {0.7f, 0, 1.0f, 0.0f},    {1.3f, 0, 1.0f, 0.0f},   {0.05f, 0, 1.0f, 0.0f},
    {1.0f, 50, 1.0f, 0.0f},   {1.0f, 1, 1.0f, 0.0f},    {2.0f, 5000, 1.0f, 0.0f},
    {1.0f, 1 << 30, 1.0f, 0.0f},
    {0.8f, 0, 0.9f, 0.0f},    {1.0f, 0, 0.5f, 0.0f},    {1.0f, 0, 1e-4f, 0.0f},  {5.0f, 0, 0.8f, 0.0f},
    {1.0f, 0, 1.0f, 0.05f},   {1.0f, 0, 1.0f, 1.0f},    {3.0f, 0, 1.0f, 0.3f},   {0.7f, 40, 0.95f, 0.02f},
    {1.5f, 1000, 0.99f, 0.0f}, {1.0f, 200, 1.0f, 0.1f}, {0.9f, 0, 0.7f, 0.01f},  {1.2f, 64, 0.6f, 0.2f},
};

void expect_seeded_draws_match(int64_t vocab, int launches, int rows) {
  std::mt19937_64 rng(vocab * 31 + 7);
  int draws = 0, mismatches = 0;
  for (int l = 0; l < launches; ++l) {
    Batch b;
    b.vocab = vocab;
    std::vector<int> config_of(rows);
    b.logits = make_rows(rows, vocab, rng(), [&](int64_t r) { return static_cast<Shape>((l + r) % 4); });
    for (int r = 0; r < rows; ++r) {
      const int c = static_cast<int>((l * rows + r) % std::size(kDrawConfigs));
      config_of[r] = c;
      const DrawConfig& d = kDrawConfigs[c];
      b.params.push_back(row_params(d.temperature, d.top_k, d.top_p, d.min_p, rng(), rng() % 4096));
    }
    const GpuResult gpu = run_gpu(b, 0);
    const std::vector<int32_t> cpu = run_cpu(b);
    for (int r = 0; r < rows; ++r) {
      ++draws;
      if (gpu.tokens[r] == cpu[r]) continue;
      ++mismatches;
      const DrawConfig& d = kDrawConfigs[config_of[r]];
      const float* x = b.logits.data() + r * vocab;
      const auto g = gpu.tokens[r], c = cpu[r];
      const float xg = g >= 0 && g < vocab ? x[g] : NAN;
      const auto rank = [&](float v) {
        return std::count_if(x, x + vocab, [&](float o) { return o > v; });
      };
      if (mismatches <= 20)
        std::printf("mismatch vocab %lld launch %d row %d (T %g k %d p %g min_p %g shape %d u %.17g): "
                    "gpu %d (x %.9g rank %ld) cpu %d (x %.9g rank %ld)\n",
                    static_cast<long long>(vocab), l, r, d.temperature, d.top_k, d.top_p, d.min_p,
                    (l + r) % 4,
                    SamplerRng(b.params[r].seed, b.params[r].output_index).uniform(), g, xg,
                    static_cast<long>(rank(xg)), c, x[c], static_cast<long>(rank(x[c])));
    }
  }
  std::printf("vocab %lld: %d seeded draws, %d differ from the CPU\n", static_cast<long long>(vocab), draws,
              mismatches);
  EXPECT_LE(mismatches, draws / 2000) << "more than fp64 rounding at a boundary can explain";
}

TEST(CudaSampling, SeededDrawsMatchCpuVocab151936) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  expect_seeded_draws_match(151936, 16, 64);
}

TEST(CudaSampling, SeededDrawsMatchCpuVocab32000) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  expect_seeded_draws_match(32000, 40, 64);
}

// Equal logits are walked lowest index first: on an all-equal row the draw is index floor(u * V)
// (thousands of ties take the tie path, a handful the sorted one), and top-k keeps the first k.
TEST(CudaSampling, EqualLogitsAreWalkedInIndexOrder) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  const int64_t vocab = 6000;
  Batch b;
  b.vocab = vocab;
  std::vector<int32_t> expect;
  for (int r = 0; r < 32; ++r) {
    std::vector<float> x(vocab, 0.25f);
    const uint64_t seed = 1000 + r, index = r;
    const double u = SamplerRng(seed, index).uniform();
    if (r % 2 == 0) {
      b.params.push_back(row_params(1.0f, 0, 1.0f, 0.0f, seed, index));
      expect.push_back(static_cast<int32_t>(std::floor(u * vocab)));
    } else {
      // Seven equal tops among lower logits; top-k = 5 keeps the first five of them.
      const int32_t tops[7] = {4000, 17, 5999, 2500, 300, 301, 42};
      for (int32_t i = 0; i < vocab; ++i) x[i] = -static_cast<float>(i % 97) - 10.0f;
      for (int32_t t : tops) x[t] = 3.0f;
      b.params.push_back(row_params(1.0f, 5, 1.0f, 0.0f, seed, index));
      const int32_t first5[5] = {17, 42, 300, 301, 2500};
      expect.push_back(first5[static_cast<int>(std::floor(u * 5))]);
    }
    b.logits.insert(b.logits.end(), x.begin(), x.end());
  }
  const GpuResult gpu = run_gpu(b, 0);
  for (int r = 0; r < 32; ++r) EXPECT_EQ(gpu.tokens[r], expect[r]) << "row " << r;
}

// Penalties: the penalized logits equal apply_penalties' bit for bit, and the tokens match.
TEST(CudaSampling, PenaltiesMatchCpu) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  const int64_t vocab = 32000;
  std::mt19937_64 rng(5);
  Batch b;
  b.vocab = vocab;
  const int rows = 64;
  const float rep[] = {1.0f, 1.3f, 0.7f, 2.0f};
  const float pres[] = {0.0f, 0.5f, -0.3f, 1.5f};
  const float freq[] = {0.0f, 0.4f, -0.2f, 0.05f};
  std::uniform_int_distribution<int32_t> hot(0, 300);  // a small range, so ids repeat
  std::uniform_int_distribution<int32_t> any(0, vocab - 1);
  for (int r = 0; r < rows; ++r) {
    const std::vector<float> x = make_row(vocab, static_cast<Shape>(r % 4), rng);
    b.logits.insert(b.logits.end(), x.begin(), x.end());
    std::vector<int32_t> prompt, output;
    const int n_prompt = r % 5 == 0 ? 0 : 1 + static_cast<int>(rng() % 3000);
    const int n_output = r % 7 == 0 ? 0 : 1 + static_cast<int>(rng() % 2000);
    for (int i = 0; i < n_prompt; ++i) prompt.push_back(i % 3 ? hot(rng) : any(rng));
    for (int i = 0; i < n_output; ++i) output.push_back(i % 2 ? hot(rng) : any(rng));
    if (r % 4 == 3) {  // ids the CPU ignores
      prompt.push_back(-1);
      output.push_back(static_cast<int32_t>(vocab));
      output.push_back(-7);
    }
    b.prompt.push_back(prompt);
    b.output.push_back(output);
    RowSamplingParams p =
        row_params(r % 3 == 0 ? 0.0f : 0.9f, r % 5 == 1 ? 50 : 0, r % 2 ? 0.9f : 1.0f, 0.0f, rng(), r);
    p.repetition_penalty = rep[r % 4];
    p.presence_penalty = pres[(r / 4) % 4];
    p.frequency_penalty = freq[(r / 16) % 4];
    b.params.push_back(p);
  }
  const GpuResult gpu = run_gpu(b, 0);
  std::vector<float> penalized;
  const std::vector<int32_t> cpu = run_cpu(b, &penalized);
  for (int r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < vocab; ++i)
      ASSERT_EQ(gpu.logits[r * vocab + i], penalized[r * vocab + i]) << "row " << r << " id " << i;
    EXPECT_EQ(gpu.tokens[r], cpu[r]) << "row " << r;
  }
}

// Log-probabilities are of the raw logits: chosen token and top-N against a CPU log_softmax.
TEST(CudaSampling, LogprobsAreRawLogSoftmax) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  for (int num_top : {20, 5, 1}) {
    const int64_t vocab = num_top == 20 ? 151936 : 32000;
    std::mt19937_64 rng(num_top);
    Batch b;
    b.vocab = vocab;
    const int rows = 24;
    for (int r = 0; r < rows; ++r) {
      const std::vector<float> x = make_row(vocab, static_cast<Shape>(r % 4), rng);
      b.logits.insert(b.logits.end(), x.begin(), x.end());
      RowSamplingParams p = row_params(r % 3 == 0 ? 0.0f : 1.0f, 0, r % 2 ? 0.8f : 1.0f, 0.0f, rng(), r);
      std::vector<int32_t> ids;
      if (r % 2 == 0) {  // penalize the current favourites, so the chosen logit was often rewritten
        std::vector<int32_t> order(vocab);
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + 8, order.end(),
                          [&](int32_t a, int32_t c) { return x[a] > x[c]; });
        ids.assign(order.begin(), order.begin() + 8);
        p.repetition_penalty = 1.5f;
        p.frequency_penalty = 0.5f;
      }
      b.prompt.push_back({});
      b.output.push_back(ids);
      b.params.push_back(p);
    }
    const GpuResult gpu = run_gpu(b, num_top);
    const std::vector<int32_t> cpu = run_cpu(b);
    for (int r = 0; r < rows; ++r) {
      const float* x = b.logits.data() + r * vocab;
      const double m = *std::max_element(x, x + vocab);
      double s = 0.0;
      for (int64_t i = 0; i < vocab; ++i) s += std::exp(static_cast<double>(x[i]) - m);
      const double lse = m + std::log(s);
      ASSERT_EQ(gpu.tokens[r], cpu[r]) << "row " << r;
      EXPECT_NEAR(gpu.chosen_logprob[r], x[cpu[r]] - lse, 1e-4) << "row " << r;
      std::vector<int32_t> order(vocab);
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + num_top, order.end(), [&](int32_t a, int32_t c) {
        return x[a] > x[c] || (x[a] == x[c] && a < c);
      });
      for (int k = 0; k < num_top; ++k) {
        EXPECT_EQ(gpu.top_ids[r * num_top + k], order[k]) << "row " << r << " rank " << k;
        EXPECT_NEAR(gpu.top_logprobs[r * num_top + k], x[order[k]] - lse, 1e-4)
            << "row " << r << " rank " << k;
      }
    }
  }
}

TEST(CudaSampling, RejectsBadArgumentsAndAcceptsEmptyBatches) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  const PenaltyTokens none;
  EXPECT_EQ(troupe::cuda::sample_tokens(nullptr, nullptr, nullptr, none, {}, nullptr, nullptr, nullptr, 0, nullptr,
                                        0, 0, 32000, nullptr),
            cudaSuccess);
  DeviceArray<float> logits(4 * 8);
  DeviceArray<int32_t> tokens(4), ids(4), offsets(5);
  DeviceArray<RowSamplingParams> p(std::vector<RowSamplingParams>(4, row_params(1.0f)));
  EXPECT_EQ(troupe::cuda::sample_tokens(tokens.ptr, logits.ptr, p.ptr, none, {}, nullptr, tokens.ptr, logits.ptr,
                                        21, nullptr, 0, 4, 32000, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(troupe::cuda::sample_tokens(tokens.ptr, logits.ptr, p.ptr, none, {}, nullptr, tokens.ptr, logits.ptr,
                                        9, nullptr, 0, 4, 8, nullptr),
            cudaErrorInvalidValue);  // more top logprobs than the vocabulary
  const PenaltyTokens some{ids.ptr, offsets.ptr, offsets.ptr, 4};
  EXPECT_EQ(troupe::cuda::sample_tokens(tokens.ptr, logits.ptr, p.ptr, some, {}, nullptr, nullptr, nullptr, 0,
                                        nullptr, 0, 4, 8, nullptr),
            cudaErrorInvalidValue);  // penalty ids but no workspace
  DeviceArray<float> bias(4);
  const troupe::cuda::LogitAdjustments adjust{ids.ptr, bias.ptr, offsets.ptr, offsets.ptr, 4};
  EXPECT_EQ(troupe::cuda::sample_tokens(tokens.ptr, logits.ptr, p.ptr, none, adjust, nullptr, nullptr, nullptr, 0,
                                        nullptr, 0, 4, 8, nullptr),
            cudaErrorInvalidValue);  // logit adjustments but no workspace
  EXPECT_EQ(troupe::cuda::sampling_workspace_bytes(512, 0, 0), 0u);
  EXPECT_GT(troupe::cuda::sampling_workspace_bytes(512, 100000, 0), 2 * 100000 * sizeof(int32_t));
  EXPECT_GE(troupe::cuda::sampling_workspace_bytes(512, 0, 1000), 1000 * sizeof(float));
}

}  // namespace
