// The sharded CUDA decoder (tensor parallel on the GPU) against the unsharded one. On one GPU the
// ranks of a group run in this process through the one-device test group (comm/cuda), a thread
// each: tp 2 and 4 on the fixture checkpoints (slices read from safetensors, Qwen2's biases, 2 KV
// heads so tp 4 replicates them) and on dummy models at Llama-3-8B width (8 KV heads, and 2 so tp 4
// replicates); prefill, chunked prefill and batched decode steps give logits within bf16 noise of
// tp 1, and every rank ends a step with the same logits bit for bit; the group as one backend
// generates one GPU's tokens. NCCL's tests are in gpu_tensor_parallel_nccl_test.cpp. Every test
// skips, saying why, when it cannot run here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include <cuda_runtime_api.h>

#include "comm/cuda/one_device_group.h"
#include "comm/device_communicator.h"
#include "engine/model/checkpoint.h"
#include "engine/model/rope_frequencies.h"
#include "engine/runtime/gpu_backend.h"
#include "engine/runtime/gpu_tensor_parallel_backend.h"
#include "engine/runtime/local_engine.h"
#include "greedy_compare.h"
#include "gpu_test_util.h"
#include "kernels/cuda/decoder.h"
#include "tp_test_support.h"
#include "tests/comm/on_every_rank.h"

namespace troupe {
namespace {

// The ranks of one TP group, each a GpuBackend over its shard, summing through `comms`.
struct Group {
  std::vector<std::unique_ptr<DeviceCommunicator>> comms;
  std::vector<std::shared_ptr<ModelBackend>> ranks;
};

Group one_device_group(const TestModel& m, int32_t tp) {
  Group g;
  g.comms = make_one_device_group(tp, 0);
  for (int32_t r = 0; r < tp; ++r) {
    GpuBackendOptions o = test_options();
    o.tp_rank = r;
    o.tp_size = tp;
    o.tp_group = g.comms[static_cast<size_t>(r)].get();
    g.ranks.push_back(make_gpu_backend(m.config, m.checkpoint.get(), 0, o));
  }
  return g;
}

// Each rank's result of f, run on every rank at once.
std::vector<std::vector<float>> on_group(Group& g, const std::function<std::vector<float>(ModelBackend&)>& f) {
  std::vector<std::vector<float>> out(g.ranks.size());
  on_every_rank(static_cast<int32_t>(g.ranks.size()),
                [&](int32_t r) { out[static_cast<size_t>(r)] = f(*g.ranks[static_cast<size_t>(r)]); });
  return out;
}

void check_sharded_against_whole(const TestModel& m, const std::string& name) {
  std::mt19937 rng(3);
  std::shared_ptr<ModelBackend> whole = make_gpu_backend(m.config, m.checkpoint.get(), 0, test_options());
  const std::vector<std::vector<int32_t>> prompts = {random_tokens(rng, 1, m.config.vocab_size),
                                                     random_tokens(rng, 37, m.config.vocab_size),
                                                     random_tokens(rng, 100, m.config.vocab_size)};
  std::vector<std::vector<int32_t>> steps;
  for (int k = 0; k < 6; ++k) steps.push_back(random_tokens(rng, prompts.size(), m.config.vocab_size));
  const auto ref_prompt = prompt_logits(*whole, prompts[2]);
  const auto ref_chunked = prompt_logits(*whole, prompts[2], 16);
  const auto ref_decode = prefill_then_decode(*whole, prompts, steps);  // decode steps replay graphs
  whole.reset();
  for (int32_t tp : {2, 4}) {
    Group g = one_device_group(m, tp);
    const std::string at = name + " tp " + std::to_string(tp);
    const int64_t V = m.config.vocab_size;
    expect_group_matches(ref_prompt, on_group(g, [&](ModelBackend& b) { return prompt_logits(b, prompts[2]); }), V,
                         at + ", prompt of 100");
    expect_group_matches(ref_chunked,
                         on_group(g, [&](ModelBackend& b) { return prompt_logits(b, prompts[2], 16); }), V,
                         at + ", chunks of 16");
    expect_group_matches(ref_decode,
                         on_group(g, [&](ModelBackend& b) { return prefill_then_decode(b, prompts, steps); }), V,
                         at + ", 3 prompts then 6 decode steps");
  }
}

TEST(GpuTensorParallel, FixtureCheckpointsShardedEqualWhole) {
  REQUIRE_DEVICES(1);
  for (const std::string name : {"tiny-llama3", "tiny-qwen2"}) check_sharded_against_whole(fixture(name), name);
}

TEST(GpuTensorParallel, Llama3WidthDummyShardedEqualsWhole) {
  REQUIRE_DEVICES(1);
  check_sharded_against_whole({wide_config(8), nullptr}, "8B width, 8 KV heads");
}

TEST(GpuTensorParallel, FewerKvHeadsThanRanksReplicatesThem) {
  REQUIRE_DEVICES(1);
  check_sharded_against_whole({wide_config(2), nullptr}, "8B width, 2 KV heads");
}

// Every bias there is (q/k/v and gate/up split with their rows; o and down whole, added by rank 0
// alone): a row-parallel bias added on every rank would count it tp times.
TEST(GpuTensorParallel, BiasesCountedOnce) {
  REQUIRE_DEVICES(1);
  ModelConfig c = wide_config(4);
  c.hidden_size = 1024;
  c.num_heads = 16;
  c.head_dim = 64;
  c.intermediate_size = 2816;
  c.vocab_size = 32000;
  c.qkv_bias = c.o_bias = c.mlp_bias = true;
  check_sharded_against_whole({c, nullptr}, "every bias");
}

// The group as one ModelBackend (ranks as threads, here through the one-device group): greedy
// requests alone and batched (chunked prefill, prefix-cache hits) give one GPU's tokens up to
// bf16 near-ties, and pipelined steps (deferred tokens filled from each rank's own samples)
// give the group's lock-step tokens exactly.
TEST(GpuTensorParallel, GroupBackendGeneratesWhatOneGpuDoes) {
  REQUIRE_DEVICES(1);
  for (const std::string name : {"tiny-llama3", "tiny-qwen2"}) {
    const TestModel m = fixture(name);
    auto whole = make_gpu_backend(m.config, m.checkpoint.get(), 0, test_options());
    for (int32_t tp : {2, 4}) {
      auto group = make_gpu_tensor_parallel_backend(m.config, m.checkpoint.get(), 0, test_options(),
                                                    make_one_device_group(tp, 0), std::vector<int>(tp, 0));
      const std::vector<GenerationRequest> reqs = random_greedy_requests(21, 12, 90, 4, 20, m.config.vocab_size);
      auto run_all = [&](ModelBackend& b) { return run_batched(b, reqs, 8, 64, 256); };
      const auto batched = run_all(*group), reference = run_all(*whole);
      ASSERT_EQ(batched.size(), reqs.size());
      int identical = 0;
      for (const auto& r : reqs) {
        const std::string what = name + " tp " + std::to_string(tp) + ", request " + std::to_string(r.id);
        identical += batched.at(r.id) == reference.at(r.id);
        expect_equal_up_to_a_near_tie(*whole, r.prompt_token_ids, reference.at(r.id), batched.at(r.id), what);
        const auto alone = generate(*group, r.prompt_token_ids, r.sampling_params.max_tokens);
        expect_equal_up_to_a_near_tie(*whole, r.prompt_token_ids, reference.at(r.id), alone, what + " alone");
      }
      std::printf("%s tp %d: %d of %zu batched requests identical to one GPU's\n", name.c_str(), tp, identical,
                  reqs.size());
      // Pipelined: each decode step launched before the one before it is collected.
      ASSERT_TRUE(group->pipelines());
      const std::vector<std::vector<int32_t>> prompts = {reqs[0].prompt_token_ids, reqs[1].prompt_token_ids};
      SamplingParams greedy;
      greedy.temperature = 0.0f;
      auto decode = [&](bool pipelined) {
        group->allocate_kv_cache(64, 16);
        std::vector<std::vector<int32_t>> tables(2), out(2);
        for (int32_t s = 0; s < 2; ++s)
          for (int32_t i = 0; i < 16; ++i) tables[s].push_back(s * 16 + i);
        std::vector<SamplingRow> rows;
        for (int32_t s = 0; s < 2; ++s) rows.push_back({&greedy, 0, 0, prompts[s], {}});
        ForwardBatch prefill;
        for (int32_t s = 0; s < 2; ++s)
          prefill.add_sequence(prompts[s].data(), static_cast<int32_t>(prompts[s].size()),
                               static_cast<int32_t>(prompts[s].size()), tables[s], 16, true);
        auto append = [&](const SampledTokens& t) {
          for (int32_t s = 0; s < 2; ++s) out[s].push_back(t.tokens.at(s));
        };
        if (pipelined) group->launch(prefill, rows, {});
        else append(group->run(prefill, rows));
        for (int32_t k = 1; k <= 12; ++k) {
          ForwardBatch step;
          std::vector<DeferredToken> deferred;
          std::vector<int32_t> tokens(2);
          for (int32_t s = 0; s < 2; ++s) {
            tokens[s] = pipelined ? kTokenSampledByExecutor : out[s].back();
            step.add_sequence(&tokens[s], 1, static_cast<int32_t>(prompts[s].size()) + k, tables[s], 16, true);
            if (pipelined) deferred.push_back({s, s});
          }
          if (!pipelined) {
            append(group->run(step, rows));
            continue;
          }
          group->launch(step, rows, deferred);
          append(group->collect());
        }
        if (pipelined) append(group->collect());
        return out;
      };
      EXPECT_EQ(decode(true), decode(false)) << name << " tp " << tp << ": pipelined steps";
    }
  }
}

TEST(GpuTensorParallel, AShapeTheRanksCannotSplitIsRefused) {
  REQUIRE_DEVICES(1);
  GpuBackendOptions o = test_options();
  auto comms = make_one_device_group(3, 0);
  o.tp_size = 3;
  o.tp_group = comms[0].get();
  EXPECT_THROW(make_gpu_backend(wide_config(8), nullptr, 0, o), std::invalid_argument);  // 3 does not divide 32 heads
  o.tp_size = 2;
  EXPECT_THROW(make_gpu_backend(wide_config(8), nullptr, 0, o), std::invalid_argument);  // a group of 3 for tp 2
}


}  // namespace
}  // namespace troupe
