// The GPU attention path (paged decode, paged prefill; RoPE + KV write has its own file) against
// the fp32 CPU references on the same bf16-rounded inputs: ||out - ref|| / ||ref|| < 1e-2 per
// sequence.
// Inputs are fresh random numbers each run (the seed is printed on failure), outputs are poisoned
// with NaN before each launch so an unwritten element fails, and block tables are shuffled.
#include <gtest/gtest.h>

#include "cuda_test_device.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "cuda_bf16_test_buffers.h"  // DeviceBuffer, random_bf16, to_float, rel_error, fresh_seed
#include "kernels/cpu/paged_attention.h"
#include "kernels/cuda/paged_attention.h"
#include "kernels/cuda/prefill_attention.h"
#include "kernels/cuda/rope_kv_write.h"  // its argument checks sit with attention's

namespace {

// A paged cache holding random K/V for a batch of sequences, their blocks drawn from a shuffled
// pool, with a float copy for the CPU reference.
struct TestCache {
  int64_t block_size, kvh, d, max_blocks = 1, num_blocks = 0;
  std::vector<bf16> k, v;           // [num_blocks, block_size, kvh, d]
  std::vector<float> kf, vf;
  std::vector<int32_t> tables;      // [num_seqs, max_blocks]
  DeviceBuffer<bf16>* dk = nullptr;
  DeviceBuffer<bf16>* dv = nullptr;
  DeviceBuffer<int32_t>* dtables = nullptr;

  // Tables are wide enough for table_tokens, as an executor's are for its longest context.
  TestCache(const std::vector<int>& context_lens, int64_t bs, int64_t kv_heads, int64_t head_dim,
            std::mt19937& rng, int64_t table_tokens = 0)
      : block_size(bs), kvh(kv_heads), d(head_dim) {
    max_blocks = std::max<int64_t>(1, (table_tokens + bs - 1) / bs);
    for (int c : context_lens) max_blocks = std::max<int64_t>(max_blocks, (c + bs - 1) / bs);
    for (int c : context_lens) num_blocks += (c + bs - 1) / bs;
    num_blocks += 3;  // blocks no sequence owns
    std::vector<int32_t> pool(num_blocks);
    std::iota(pool.begin(), pool.end(), 0);
    std::shuffle(pool.begin(), pool.end(), rng);
    // Entries past a sequence's blocks point far outside the cache: reading one faults.
    tables.assign(context_lens.size() * max_blocks, 1 << 29);
    size_t next = 0;
    for (size_t s = 0; s < context_lens.size(); ++s)
      for (int64_t b = 0; b < (context_lens[s] + bs - 1) / bs; ++b) tables[s * max_blocks + b] = pool[next++];
    k = random_bf16(num_blocks * bs * kvh * d, rng);
    v = random_bf16(num_blocks * bs * kvh * d, rng);
    kf = to_float(k);
    vf = to_float(v);
    dk = new DeviceBuffer<bf16>(k);
    dv = new DeviceBuffer<bf16>(v);
    dtables = new DeviceBuffer<int32_t>(tables);
  }
  ~TestCache() { delete dk; delete dv; delete dtables; }
  troupe::cpu::PagedKvLayer cpu() { return {kf.data(), vf.data(), block_size, kvh, d}; }
  troupe::cuda::PagedKvCache gpu() const {
    return {dk->ptr, dv->ptr, int32_t(block_size), int32_t(kvh), int32_t(d)};
  }
  const int32_t* table(size_t s) const { return &tables[s * max_blocks]; }
};

struct Shape {
  int group;
  int head_dim;
};
std::string shape_name(const testing::TestParamInfo<Shape>& info) {
  return "group" + std::to_string(info.param.group) + "_d" + std::to_string(info.param.head_dim);
}
// 16 and 32 are the committed tiny test models' head dims (tiny-qwen2, tiny-llama3): their tiles
// are a single or double k-step and two or four 16-byte chunks a row, so they get their own runs.
const Shape kShapes[] = {{1, 16}, {2, 16}, {1, 32}, {2, 32}, {1, 64}, {1, 128}, {4, 64},
                         {4, 128}, {8, 64}, {8, 128}, {32, 64}};

// Decode over `context_lens` (0 = padding row); q rows sit inside a packed qkv buffer.
void check_decode(const std::vector<int>& context_lens, int group, int head_dim, int kvh,
                  int block_size, int64_t max_context_len, uint32_t seed) {
  SCOPED_TRACE("seed " + std::to_string(seed) + " max_context_len " + std::to_string(max_context_len));
  std::mt19937 rng(seed);
  const int64_t n = context_lens.size(), heads = int64_t{group} * kvh, d = head_dim;
  const int64_t stride = (heads + 2 * kvh) * d, row = heads * d;
  TestCache cache(context_lens, block_size, kvh, d, rng, max_context_len);
  const std::vector<bf16> qkv = random_bf16(n * stride, rng);
  const std::vector<float> qf = to_float(qkv);
  DeviceBuffer<bf16> dq(qkv), dout(n * row);
  DeviceBuffer<int32_t> dctx(std::vector<int32_t>(context_lens.begin(), context_lens.end()));
  const size_t ws_bytes = troupe::cuda::paged_decode_workspace_bytes(n, heads, d, max_context_len);
  DeviceBuffer<float> ws(ws_bytes / sizeof(float));
  dout.poison();
  ws.poison();
  const float scale = 1.0f / std::sqrt(float(d));
  ASSERT_EQ(troupe::cuda::paged_decode_attention(dout.ptr, dq.ptr, stride, cache.gpu(), cache.dtables->ptr,
                                                 cache.max_blocks, dctx.ptr, n, heads, scale,
                                                 max_context_len, ws.ptr, ws_bytes, nullptr),
            cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<float> out = to_float(dout.download());
  auto layer = cache.cpu();
  double worst = 0;
  for (int64_t s = 0; s < n; ++s) {
    const float* got = &out[s * row];
    if (context_lens[s] == 0) {
      for (int64_t i = 0; i < row; ++i) ASSERT_EQ(got[i], 0.0f) << "padding row " << s << " element " << i;
      continue;
    }
    std::vector<float> ref(row);
    troupe::cpu::paged_attention(ref.data(), row, &qf[s * stride], stride, 1, context_lens[s],
                                 cache.table(s), layer, heads, scale);
    const double err = rel_error(got, ref.data(), row);
    worst = std::max(worst, err);
    EXPECT_LT(err, 1e-2) << "sequence " << s << " context " << context_lens[s];
  }
  std::printf("decode group %d d %d block %d: worst sequence rel error %.2e\n", group, head_dim, block_size, worst);
}

class CudaAttentionDecode : public testing::TestWithParam<Shape> {};

TEST_P(CudaAttentionDecode, MatchesCpuAcrossContextLengthsAndPadding) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  const std::vector<int> lens = {17, 1, 5000, 0, 15, 300, 16, 64, 65, 0, 129};
  const uint32_t seed = fresh_seed();
  // The exact bound, and a graph-capture-style loose one (most partitions exit at once).
  check_decode(lens, GetParam().group, GetParam().head_dim, 2, 16, 5000, seed);
  check_decode(lens, GetParam().group, GetParam().head_dim, 2, 16, 20000, seed + 1);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaAttentionDecode,
                         testing::ValuesIn(kShapes), shape_name);

TEST(CudaAttentionDecodeBatch, LargeBatchUnsplitAndOtherBlockSizes) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  const uint32_t seed = fresh_seed();
  std::mt19937 rng(seed);
  std::vector<int> lens(80);
  for (int& c : lens) c = std::uniform_int_distribution<int>(1, 700)(rng);
  lens[7] = 0;
  // 80 sequences x 8 kv heads fill the GPU: one partition, written without the merge kernel.
  check_decode(lens, 4, 128, 8, 16, 700, seed);
  check_decode({1, 33, 300, 1000}, 4, 128, 2, 8, 1000, seed + 1);
  check_decode({1, 33, 300, 1000}, 8, 64, 1, 32, 1000, seed + 2);
  check_decode({1, 33, 300, 1000}, 2, 16, 2, 8, 1000, seed + 3);
  check_decode({1, 33, 300, 1000}, 2, 32, 1, 32, 1000, seed + 4);
}

// Prefill for sequences of (q_len, context_len); query tokens packed, q_stride > row width.
void check_prefill(const std::vector<std::pair<int, int>>& seqs, int group, int head_dim, int kvh,
                   int block_size, uint32_t seed) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const int64_t heads = int64_t{group} * kvh, d = head_dim, stride = (heads + 2 * kvh) * d, row = heads * d;
  std::vector<int> ctx;
  std::vector<int32_t> starts = {0};
  int64_t max_q = 0;
  for (auto [q_len, c] : seqs) {
    ctx.push_back(c);
    starts.push_back(starts.back() + q_len);
    max_q = std::max<int64_t>(max_q, q_len);
  }
  const int64_t tokens = starts.back();
  TestCache cache(ctx, block_size, kvh, d, rng);
  const std::vector<bf16> qkv = random_bf16(tokens * stride, rng);
  const std::vector<float> qf = to_float(qkv);
  DeviceBuffer<bf16> dq(qkv), dout(tokens * row);
  DeviceBuffer<int32_t> dctx(std::vector<int32_t>(ctx.begin(), ctx.end())), dstart(starts);
  dout.poison();
  const float scale = 1.0f / std::sqrt(float(d));
  ASSERT_EQ(troupe::cuda::paged_prefill_attention(dout.ptr, dq.ptr, stride, cache.gpu(), cache.dtables->ptr,
                                                  cache.max_blocks, dstart.ptr, dctx.ptr, seqs.size(),
                                                  heads, scale, max_q + 3, nullptr),
            cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<float> out = to_float(dout.download());
  auto layer = cache.cpu();
  double worst = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const int64_t q_len = seqs[s].first;
    std::vector<float> ref(q_len * row);
    troupe::cpu::paged_attention(ref.data(), row, &qf[starts[s] * stride], stride, q_len, ctx[s],
                                 cache.table(s), layer, heads, scale);
    const double err = rel_error(&out[starts[s] * row], ref.data(), q_len * row);
    worst = std::max(worst, err);
    EXPECT_LT(err, 1e-2) << "sequence " << s << " q_len " << q_len << " context " << ctx[s];
  }
  std::printf("prefill group %d d %d block %d: worst sequence rel error %.2e\n", group, head_dim, block_size, worst);
}

class CudaAttentionPrefill : public testing::TestWithParam<Shape> {};

TEST_P(CudaAttentionPrefill, MixedBatchMatchesCpu) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  // Decode rows, whole prompts, chunks after cached prefixes, tile and block edges.
  check_prefill({{1, 1}, {37, 37}, {1, 300}, {64, 100}, {130, 1000}, {200, 200}, {5, 17}, {16, 16}},
                GetParam().group, GetParam().head_dim, 2, 16, fresh_seed());
}

// A 300-token prompt run as three chunks (each after the previous ones are cached) gives what
// one whole-prompt launch gives.
TEST_P(CudaAttentionPrefill, ThreeChunksEqualWholePrompt) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const int prompt = 300, kvh = 2, heads = GetParam().group * kvh, d = GetParam().head_dim;
  const int64_t row = int64_t{heads} * d;
  TestCache cache({prompt}, 16, kvh, d, rng);
  const std::vector<bf16> q = random_bf16(prompt * row, rng);
  DeviceBuffer<bf16> dq(q), whole(prompt * row), chunked(prompt * row);
  const float scale = 1.0f / std::sqrt(float(d));
  auto run = [&](DeviceBuffer<bf16>& out, int begin, int len) {
    DeviceBuffer<int32_t> start(std::vector<int32_t>{0, len}), ctx(std::vector<int32_t>{begin + len});
    ASSERT_EQ(troupe::cuda::paged_prefill_attention(out.ptr + begin * row, dq.ptr + begin * row, row, cache.gpu(),
                                                    cache.dtables->ptr, cache.max_blocks, start.ptr, ctx.ptr, 1,
                                                    heads, scale, len, nullptr),
              cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  };
  whole.poison();
  chunked.poison();
  run(whole, 0, prompt);
  run(chunked, 0, 97);
  run(chunked, 97, 120);
  run(chunked, 217, 83);
  const std::vector<float> a = to_float(whole.download()), b = to_float(chunked.download());
  const double chunk_err = rel_error(b.data(), a.data(), a.size());
  EXPECT_LT(chunk_err, 1e-2);
  std::vector<float> ref(prompt * row), qf = to_float(q);
  auto layer = cache.cpu();
  troupe::cpu::paged_attention(ref.data(), row, qf.data(), row, prompt, prompt, cache.table(0), layer, heads, scale);
  const double whole_err = rel_error(a.data(), ref.data(), ref.size());
  EXPECT_LT(whole_err, 1e-2);
  std::printf("chunks vs whole %.2e, whole vs cpu %.2e\n", chunk_err, whole_err);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaAttentionPrefill,
                         testing::ValuesIn(kShapes), shape_name);

TEST(CudaAttentionPrefillBatch, OtherBlockSizes) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  check_prefill({{70, 70}, {1, 9}, {33, 90}}, 4, 128, 2, 8, fresh_seed());
  check_prefill({{70, 70}, {1, 9}, {33, 90}}, 4, 64, 2, 32, fresh_seed());
  check_prefill({{70, 70}, {1, 9}, {33, 90}}, 2, 16, 2, 8, fresh_seed());
  check_prefill({{70, 70}, {1, 9}, {33, 90}}, 1, 32, 2, 32, fresh_seed());
}

TEST(CudaAttentionArguments, UnsupportedShapesAreRejected) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  DeviceBuffer<bf16> buf(1 << 16);
  DeviceBuffer<int32_t> ints(64);
  DeviceBuffer<float> ws(16);
  const troupe::cuda::PagedKvCache good{buf.ptr, buf.ptr, 16, 2, 128};
  troupe::cuda::PagedKvCache odd_dim = good, odd_block = good;
  odd_dim.head_dim = 96;
  odd_block.block_size = 12;
  EXPECT_EQ(troupe::cuda::rope_kv_write(buf.ptr, 1024, ints.ptr, ws.ptr, ints.ptr, 1, 4, odd_dim, nullptr),
            cudaErrorInvalidValue);
  // Below 16 or between the instantiated dims: no kernel exists for them.
  for (int32_t dim : {8, 24, 48, 256}) {
    troupe::cuda::PagedKvCache other = good;
    other.head_dim = dim;
    EXPECT_EQ(troupe::cuda::rope_kv_write(buf.ptr, 4096, ints.ptr, ws.ptr, ints.ptr, 1, 4, other, nullptr),
              cudaErrorInvalidValue) << "head_dim " << dim;
    EXPECT_EQ(troupe::cuda::paged_decode_attention(buf.ptr, buf.ptr, 4096, other, ints.ptr, 8, ints.ptr, 1, 4,
                                                   1.0f, 100, ws.ptr, 16 * sizeof(float), nullptr),
              cudaErrorInvalidValue) << "head_dim " << dim;
    EXPECT_EQ(troupe::cuda::paged_prefill_attention(buf.ptr, buf.ptr, 4096, other, ints.ptr, 8, ints.ptr, ints.ptr,
                                                    1, 4, 1.0f, 8, nullptr),
              cudaErrorInvalidValue) << "head_dim " << dim;
  }
  EXPECT_EQ(troupe::cuda::paged_decode_attention(buf.ptr, buf.ptr, 1024, odd_block, ints.ptr, 8, ints.ptr, 1, 4,
                                                 1.0f, 100, nullptr, 0, nullptr),
            cudaErrorInvalidValue);
  // A split launch (one sequence, long context) with too small a workspace.
  EXPECT_EQ(troupe::cuda::paged_decode_attention(buf.ptr, buf.ptr, 1024, good, ints.ptr, 64, ints.ptr, 1, 4, 1.0f,
                                                 1000, ws.ptr, 16 * sizeof(float), nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(troupe::cuda::paged_prefill_attention(buf.ptr, buf.ptr, 1020, good, ints.ptr, 8, ints.ptr, ints.ptr, 1,
                                                  4, 1.0f, 8, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

}  // namespace
