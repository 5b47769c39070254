// The sharded decoder over NCCL: at world size 1 the real collective sits inside the decode graphs
// (two a layer in every bucket) and changes nothing; on a machine with two GPUs, tp 2 over NCCL
// through the group backend, graphs captured, against tp 1. Skipped, saying why, without NCCL in
// the build, a CUDA device, or a second GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include <cuda_runtime_api.h>

#include "comm/device_communicator.h"
#ifdef TROUPE_HAVE_NCCL
#include "comm/nccl/nccl_communicator.h"
#endif
#include "engine/runtime/gpu_backend.h"
#include "engine/runtime/gpu_tensor_parallel_backend.h"
#include "kernels/cuda/decoder.h"
#include "tp_test_support.h"

namespace troupe {
namespace {

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
#else
TEST(GpuTensorParallelNccl, NotBuilt) { GTEST_SKIP() << "this build found no NCCL (nccl.h / libnccl)"; }
#endif

}  // namespace
}  // namespace troupe
