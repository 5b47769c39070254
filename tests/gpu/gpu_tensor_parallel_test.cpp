// The sharded CUDA decoder (tensor parallel on the GPU) against the unsharded one. On one GPU the
// ranks of a group run in this process through the one-device test group (comm/cuda), a thread
// each: tp 2 and 4 on the fixture checkpoints (slices read from safetensors, Qwen2's biases, 2 KV
// heads so tp 4 replicates them) and on dummy models at Llama-3-8B width (8 KV heads, and 2 so tp 4
// replicates); prefill, chunked prefill and batched decode steps give logits within bf16 noise of
// tp 1, and every rank ends a step with the same logits bit for bit. NCCL at world size 1 runs the
// real collective inside the decode graphs and changes nothing. On a machine with two GPUs, tp 2
// over NCCL with graphs is checked too. Every test skips, saying why, when it cannot run here.
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
#ifdef TROUPE_HAVE_NCCL
#include "comm/nccl/nccl_communicator.h"
#endif
#include "engine/model/checkpoint.h"
#include "engine/model/rope_frequencies.h"
#include "engine/runtime/gpu_backend.h"
#include "engine/runtime/gpu_tensor_parallel_backend.h"
#include "engine/runtime/local_engine.h"
#include "greedy_compare.h"
#include "gpu_test_util.h"
#include "kernels/cuda/decoder.h"
#include "tests/comm/on_every_rank.h"

namespace troupe {
namespace {

namespace fs = std::filesystem;

int devices() { return cuda_device_available() ? cuda::device_count() : 0; }

#define REQUIRE_DEVICES(n)                                                                          \
  do {                                                                                              \
    if (devices() < (n)) GTEST_SKIP() << "needs " << (n) << " CUDA device(s), found " << devices(); \
  } while (0)

using test::on_every_rank;

// Llama-3-8B's width with few layers: hidden 4096, 32 heads of 128, intermediate 14336, vocabulary 128256.
ModelConfig wide_config(int64_t kv_heads) {
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

GpuBackendOptions test_options() {
  return {.device = 0, .memory_utilization = 0.9, .max_num_seqs = 16, .max_num_batched_tokens = 512,
          .block_size = 16, .num_blocks = 512, .cuda_graphs = true, .tune_gemms = false, .gemm_tuning_cache = {}};
}

// A model to shard: a fixture checkpoint, or dummy weights of `config`.
struct TestModel {
  ModelConfig config;
  std::unique_ptr<Checkpoint> checkpoint;  // null: dummy weights (seed 0)
};

TestModel fixture(const std::string& name) {
  const fs::path dir = fixtures_dir() / "models" / name;
  return {load_model_config(dir / "config.json"), std::make_unique<Checkpoint>(Checkpoint::open(dir))};
}

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

std::vector<int32_t> random_tokens(std::mt19937& rng, size_t n, int64_t vocab) {
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return t;
}

// One prefill step of every prompt together, then decode steps of one (given) token per sequence:
// the logits of every step, [rows, vocab] each, back to back. Sequence s owns blocks [16 s, 16 s + 16).
std::vector<float> prefill_then_decode(ModelBackend& b, const std::vector<std::vector<int32_t>>& prompts,
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
void expect_group_matches(const std::vector<float>& tp1, const std::vector<std::vector<float>>& ranks,
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

#ifdef TROUPE_HAVE_NCCL
// Counts the all-reduces enqueued while the stream was being captured, passing each to NCCL.
class CountingCommunicator : public DeviceCommunicator {
 public:
  explicit CountingCommunicator(std::unique_ptr<DeviceCommunicator> inner) : inner_(std::move(inner)) {}
  int32_t rank() const override { return inner_->rank(); }
  int32_t size() const override { return inner_->size(); }
  bool capturable() const override { return inner_->capturable(); }
  void all_reduce_sum(void* data, int64_t count, DeviceDType dtype, void* stream) override {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    cudaStreamIsCapturing(static_cast<cudaStream_t>(stream), &status);
    (status == cudaStreamCaptureStatusActive ? captured : eager) += 1;
    inner_->all_reduce_sum(data, count, dtype, stream);
  }
  int captured = 0, eager = 0;

 private:
  std::unique_ptr<DeviceCommunicator> inner_;
};

// The decode graphs hold NCCL's all-reduce (two a layer, in every bucket), and replaying them gives
// the logits of the same decoder's graphs without a communicator.
TEST(GpuTensorParallel, DecodeGraphsHoldTheNcclAllReduce) {
  REQUIRE_DEVICES(1);
  cuda::DecoderShape shape;
  shape.vocab = 1024;
  shape.hidden = 512;
  shape.intermediate = 1024;
  shape.layers = 2;
  shape.heads = 8;
  shape.kv_heads = 2;
  shape.head_dim = 64;
  for (int i = 0; i < 32; ++i) shape.rope_inv_freq.push_back(std::pow(10000.0f, -2.0f * i / 64));
  const cuda::DecoderLimits limits{.max_num_tokens = 64, .max_num_seqs = 8, .max_context_len = 256, .block_size = 16};
  CountingCommunicator comm(connect_nccl(make_nccl_id(), 0, 1, 0));
  cuda::Decoder with_nccl(shape, 0, &comm), plain(shape, 0);
  for (cuda::Decoder* d : {&with_nccl, &plain}) {
    d->fill_dummy(5);
    d->allocate(limits, 64, 0.9);
  }
  with_nccl.capture_decode_graphs();
  plain.capture_decode_graphs();
  ASSERT_GT(with_nccl.num_graphs(), 0);
  EXPECT_EQ(comm.captured, with_nccl.num_graphs() * 2 * shape.layers);
  const int eager_before = comm.eager;
  // Five sequences decode their 3rd token (contexts of 3): a bucket-of-8 graph on one side.
  const int32_t S = 5, width = with_nccl.block_table_width();
  std::vector<int32_t> tokens, positions, slots, query_start{0}, context, tables(S * width, 0), logit_rows;
  for (int32_t s = 0; s < S; ++s) {
    tables[s * width] = s;
    logit_rows.push_back(s);
  }
  std::vector<float> got, want;
  for (int32_t pos = 0; pos < 3; ++pos) {
    tokens.clear(), positions.clear(), slots.clear(), context.clear(), query_start.assign(1, 0);
    for (int32_t s = 0; s < S; ++s) {
      tokens.push_back(17 * s + pos);
      positions.push_back(pos);
      slots.push_back(s * 16 + pos);
      query_start.push_back(s + 1);
      context.push_back(pos + 1);
    }
    const cuda::DecoderStep step{tokens, positions, slots, query_start, context, tables, logit_rows, -1, {}, {}, nullptr};
    for (cuda::Decoder* d : {&with_nccl, &plain}) d->forward(step);
  }
  got.resize(size_t{S} * shape.vocab);
  want.resize(got.size());
  with_nccl.copy_logits(got.data(), S);
  plain.copy_logits(want.data(), S);
  EXPECT_EQ(comm.eager, eager_before) << "decode steps ran eagerly instead of replaying a graph";
  EXPECT_EQ(got, want) << "rel_l2 " << rel_l2(got, want);
}

// NCCL at world size 1 through the backend: the same greedy tokens and logits as no communicator.
TEST(GpuTensorParallel, NcclWorldOfOneEqualsNoCommunicator) {
  REQUIRE_DEVICES(1);
  const TestModel m = fixture("tiny-llama3");
  const auto comm = connect_nccl(make_nccl_id(), 0, 1, 0);
  GpuBackendOptions o = test_options();
  std::shared_ptr<ModelBackend> plain = make_gpu_backend(m.config, m.checkpoint.get(), 0, o);
  o.tp_group = comm.get();
  std::shared_ptr<ModelBackend> nccl = make_gpu_backend(m.config, m.checkpoint.get(), 0, o);
  std::mt19937 rng(4);
  const std::vector<std::vector<int32_t>> prompts = {random_tokens(rng, 5, m.config.vocab_size),
                                                     random_tokens(rng, 60, m.config.vocab_size)};
  std::vector<std::vector<int32_t>> steps;
  for (int k = 0; k < 8; ++k) steps.push_back(random_tokens(rng, prompts.size(), m.config.vocab_size));
  EXPECT_EQ(prefill_then_decode(*nccl, prompts, steps), prefill_then_decode(*plain, prompts, steps));
}

// Two GPUs (issue 15's machines): tp 2 over NCCL through the group backend (what serve
// --tensor-parallel 2 --device cuda builds: connect_nccl_local, a thread per GPU, decode graphs
// captured with the all-reduce inside), against tp 1 on GPU 0.
TEST(GpuTensorParallel, TwoGpusOverNcclWithGraphsEqualWhole) {
  REQUIRE_DEVICES(2);
  const TestModel m{wide_config(8), nullptr};
  std::mt19937 rng(3);
  const std::vector<std::vector<int32_t>> prompts = {random_tokens(rng, 7, m.config.vocab_size),
                                                     random_tokens(rng, 90, m.config.vocab_size)};
  std::vector<std::vector<int32_t>> steps;
  for (int k = 0; k < 6; ++k) steps.push_back(random_tokens(rng, prompts.size(), m.config.vocab_size));
  std::vector<float> ref;
  {
    auto whole = make_gpu_backend(m.config, nullptr, 0, test_options());
    ref = prefill_then_decode(*whole, prompts, steps);
  }
  auto group = make_gpu_tensor_parallel_backend(m.config, nullptr, 0, test_options(), connect_nccl_local({0, 1}), {0, 1});
  expect_group_matches(ref, {prefill_then_decode(*group, prompts, steps)}, m.config.vocab_size,
                       "8B width, tp 2 over NCCL on two GPUs");
}
#endif

}  // namespace
}  // namespace troupe
