#pragma once
// What the GPU tests that compare greedy continuations share: one request's greedy tokens through
// a backend (LocalEngine), and the rule two bf16 continuations are held to.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/runtime/local_engine.h"
#include "gpu_test_util.h"

namespace troupe {

inline std::vector<int32_t> generate(ModelBackend& b, const std::vector<int32_t>& prompt, int32_t max_tokens,
                                     int32_t chunk = 0) {
  LocalEngine engine(b, {.max_num_seqs = 8, .max_num_batched_tokens = 512, .block_size = 16, .num_blocks = 512,
                         .enable_prefix_caching = false, .long_prefill_token_threshold = chunk});
  SamplingParams p;
  p.temperature = 0.0f;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  engine.add_request({.id = 1, .prompt_token_ids = prompt, .sampling_params = p, .eos_token_ids = {}, .priority = 0,
                      .arrival = {}, .output_token_ids = {}});
  auto done = engine.run_to_completion();
  return done.at(0).output_token_ids;
}

// n greedy requests (ids 0..n-1) drawn from `seed`: prompts of 1..max_prompt random tokens, and
// min_tokens..min_tokens + token_span - 1 output tokens each, EOS ignored.
inline std::vector<GenerationRequest> random_greedy_requests(uint32_t seed, int n, int max_prompt, int min_tokens,
                                                             int token_span, int64_t vocab) {
  std::mt19937 rng(seed);
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < n; ++i) {
    GenerationRequest r;
    r.id = static_cast<SeqId>(i);
    r.prompt_token_ids.resize(1 + rng() % static_cast<uint32_t>(max_prompt));
    for (auto& t : r.prompt_token_ids) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
    r.sampling_params.temperature = 0.0f;
    r.sampling_params.max_tokens = min_tokens + static_cast<int32_t>(rng() % static_cast<uint32_t>(token_span));
    r.sampling_params.ignore_eos = true;
    reqs.push_back(r);
  }
  return reqs;
}

// Every request through one LocalEngine over b, batched (prefills chunked at max_batched tokens,
// prefix cache on): each request's tokens by id.
inline std::map<SeqId, std::vector<int32_t>> run_batched(ModelBackend& b, const std::vector<GenerationRequest>& reqs,
                                                         int32_t max_num_seqs, int32_t max_batched, int32_t num_blocks) {
  LocalEngine engine(b, {.max_num_seqs = max_num_seqs, .max_num_batched_tokens = max_batched, .block_size = 16,
                         .num_blocks = num_blocks, .enable_prefix_caching = true, .long_prefill_token_threshold = 0});
  for (const auto& r : reqs) engine.add_request(r);
  std::map<SeqId, std::vector<int32_t>> out;
  for (auto& f : engine.run_to_completion()) out[f.id] = f.output_token_ids;
  return out;
}

// Two greedy continuations of `prompt` may part only where the reference's top two logits are
// within bf16 noise of each other: GEMM shapes differ with batch composition, and a random model
// at 8B width has near-ties (128k logits of similar size). A batching bug parts them at clear
// margins too. Returns the number of tokens compared before they parted (all if they never did).
inline size_t expect_equal_up_to_a_near_tie(ModelBackend& reference, const std::vector<int32_t>& prompt,
                                            const std::vector<int32_t>& expected, const std::vector<int32_t>& got,
                                            const std::string& what) {
  EXPECT_EQ(got.size(), expected.size()) << what;
  size_t k = 0;
  while (k < got.size() && k < expected.size() && got[k] == expected[k]) ++k;
  if (k == got.size() || k == expected.size()) return k;
  std::vector<int32_t> ctx = prompt;
  ctx.insert(ctx.end(), expected.begin(), expected.begin() + static_cast<long>(k));
  auto l = prompt_logits(reference, ctx);
  std::partial_sort(l.begin(), l.begin() + 2, l.end(), std::greater<>());
  EXPECT_LT(l[0] - l[1], 2e-2f * std::abs(l[0]) + 1e-2f)
      << what << ": parts at output " << k << " where the top two logits are " << l[0] << " and " << l[1];
  return k;
}

}  // namespace troupe
