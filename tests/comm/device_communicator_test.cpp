// The DeviceCommunicators against a plain sum on the host: the one-device group (every rank of a
// group in this process on one GPU, ranks as threads) at 1-4 ranks in bf16 and fp32; the one-shot
// all-reduce with N ranks' regions on one GPU against the one-device group, bit for bit (calls back
// to back, replayed graphs, and the size threshold); NCCL at world size 1 eagerly and captured in
// a CUDA graph, and NCCL over two GPUs when the machine has them.
// Every test skips, saying why, without a CUDA device (or without NCCL / a second GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "comm/cuda/one_device_group.h"
#include "comm/cuda/one_shot_all_reduce.h"
#ifdef TROUPE_HAVE_NCCL
#include "comm/nccl/nccl_communicator.h"
#endif
#include "tests/comm/on_every_rank.h"

namespace troupe {
namespace {

int device_count() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

#define REQUIRE_DEVICES(n)                                                                              \
  do {                                                                                                  \
    if (device_count() < (n)) GTEST_SKIP() << "needs " << (n) << " CUDA device(s), found " << device_count(); \
  } while (0)

void ok(cudaError_t e) { ASSERT_EQ(e, cudaSuccess) << cudaGetErrorString(e); }

using test::on_every_rank;

// Rank r's values: distinct per rank and element, exactly representable in bf16.
std::vector<float> rank_values(int32_t rank, int64_t count) {
  std::mt19937 rng(static_cast<uint32_t>(rank * 7919 + 1));
  std::vector<float> v(static_cast<size_t>(count));
  for (auto& x : v) x = __bfloat162float(__float2bfloat16(std::uniform_real_distribution<float>(-4, 4)(rng)));
  return v;
}

// The sum the ranks must hold: in fp32 over ranks 0, 1, ..., rounded once to the dtype.
std::vector<float> expected_sum(int32_t ranks, int64_t count, DeviceDType dtype) {
  std::vector<float> sum(static_cast<size_t>(count), 0.0f);
  for (int32_t r = 0; r < ranks; ++r) {
    const auto v = rank_values(r, count);
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += v[i];
  }
  if (dtype == DeviceDType::BF16)
    for (auto& x : sum) x = __bfloat162float(__float2bfloat16(x));
  return sum;
}

// A device buffer of `count` elements of `dtype` holding `values`, read back as floats.
struct DeviceBuffer {
  DeviceBuffer(const std::vector<float>& values, DeviceDType dtype) : dtype(dtype), count(values.size()) {
    const size_t bytes = count * (dtype == DeviceDType::BF16 ? 2 : 4);
    EXPECT_EQ(cudaMalloc(&ptr, bytes), cudaSuccess);
    if (dtype == DeviceDType::BF16) {
      std::vector<__nv_bfloat16> h(count);
      for (size_t i = 0; i < count; ++i) h[i] = __float2bfloat16(values[i]);
      EXPECT_EQ(cudaMemcpy(ptr, h.data(), bytes, cudaMemcpyHostToDevice), cudaSuccess);
    } else {
      EXPECT_EQ(cudaMemcpy(ptr, values.data(), bytes, cudaMemcpyHostToDevice), cudaSuccess);
    }
  }
  ~DeviceBuffer() { cudaFree(ptr); }
  std::vector<float> read() const {
    std::vector<float> out(count);
    if (dtype == DeviceDType::BF16) {
      std::vector<__nv_bfloat16> h(count);
      EXPECT_EQ(cudaMemcpy(h.data(), ptr, count * 2, cudaMemcpyDeviceToHost), cudaSuccess);
      for (size_t i = 0; i < count; ++i) out[i] = __bfloat162float(h[i]);
    } else {
      EXPECT_EQ(cudaMemcpy(out.data(), ptr, count * 4, cudaMemcpyDeviceToHost), cudaSuccess);
    }
    return out;
  }
  DeviceDType dtype;
  size_t count;
  void* ptr = nullptr;
};

TEST(OneDeviceGroup, EveryRankHoldsThePlainSumInBf16AndFp32) {
  REQUIRE_DEVICES(1);
  for (int32_t n = 1; n <= 4; ++n) {
    auto group = make_one_device_group(n, 0);
    for (DeviceDType dtype : {DeviceDType::BF16, DeviceDType::F32}) {
      // Two sizes in a row: the second reuses (and then outgrows) the scratch of the first.
      for (int64_t count : {int64_t{4096} * 3, int64_t{4096} * 64 + 5}) {
        std::vector<std::vector<float>> got(static_cast<size_t>(n));
        on_every_rank(n, [&](int32_t r) {
          DeviceBuffer buf(rank_values(r, count), dtype);
          cudaStream_t s = nullptr;
          ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
          EXPECT_FALSE(group[r]->capturable());
          group[r]->all_reduce_sum(buf.ptr, count, dtype, s);
          ok(cudaStreamSynchronize(s));
          got[static_cast<size_t>(r)] = buf.read();
          cudaStreamDestroy(s);
        });
        const auto want = expected_sum(n, count, dtype);
        for (int32_t r = 0; r < n; ++r) {
          EXPECT_EQ(got[static_cast<size_t>(r)], got[0]) << n << " ranks: rank " << r << " differs from rank 0";
          size_t bad = 0;
          for (size_t i = 0; i < want.size(); ++i) bad += std::abs(got[static_cast<size_t>(r)][i] - want[i]) > 1e-5f;
          EXPECT_EQ(bad, 0u) << n << " ranks, " << count << " elements, rank " << r;
        }
      }
    }
  }
}

TEST(OneDeviceGroup, MismatchedCountsThrowOnEveryRank) {
  REQUIRE_DEVICES(1);
  auto group = make_one_device_group(2, 0);
  std::vector<int> threw(2, 0);
  on_every_rank(2, [&](int32_t r) {
    DeviceBuffer buf(rank_values(r, 64), DeviceDType::F32);
    try {
      group[r]->all_reduce_sum(buf.ptr, r == 0 ? 64 : 32, DeviceDType::F32, nullptr);
    } catch (const std::runtime_error&) {
      threw[static_cast<size_t>(r)] = 1;
    }
  });
  EXPECT_EQ(threw, (std::vector<int>{1, 1}));
  EXPECT_THROW(make_one_device_group(kMaxOneDeviceRanks + 1, 0), std::invalid_argument);
}

// N ranks of the one-shot all-reduce whose regions all sit on GPU 0 (the flag protocol and the
// arithmetic, checkable on one GPU: each rank's kernel reads the others' regions on the same device).
std::vector<std::unique_ptr<OneShotAllReduce>> one_shot_ranks(int32_t n, size_t max_bytes) {
  return make_one_shot_group_local(std::vector<int>(static_cast<size_t>(n), 0), max_bytes);
}

// What the one-device group leaves on every rank for rank_values(r, count): the reference.
std::vector<float> group_sum(int32_t n, int64_t count, DeviceDType dtype) {
  auto group = make_one_device_group(n, 0);
  std::vector<float> out;
  on_every_rank(n, [&](int32_t r) {
    DeviceBuffer buf(rank_values(r, count), dtype);
    group[r]->all_reduce_sum(buf.ptr, count, dtype, nullptr);
    ok(cudaStreamSynchronize(nullptr));
    if (r == 0) out = buf.read();
  });
  return out;
}

TEST(OneShotAllReduce, EqualsTheOneDeviceGroupBitForBitCallAfterCall) {
  REQUIRE_DEVICES(1);
  for (int32_t n : {2, 3, 4}) {
    for (DeviceDType dtype : {DeviceDType::BF16, DeviceDType::F32}) {
      for (int64_t count : {int64_t{4096}, int64_t{4096} * 8, int64_t{4096} * 64}) {
        const auto want = group_sum(n, count, dtype);
        ASSERT_EQ(want, expected_sum(n, count, dtype)) << "the reference group itself";
        auto ranks = one_shot_ranks(n, size_t{4096} * 64 * 4);
        std::vector<std::vector<float>> got(static_cast<size_t>(n));
        // 50 calls back to back with no host wait between them, each on fresh input copied on the
        // stream: ranks run ahead of each other, epochs and both data halves turn over.
        on_every_rank(n, [&](int32_t r) {
          DeviceBuffer input(rank_values(r, count), dtype), buf(rank_values(r, count), dtype);
          cudaStream_t s = nullptr;
          ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
          const size_t bytes = static_cast<size_t>(count) * (dtype == DeviceDType::BF16 ? 2 : 4);
          for (int call = 0; call < 50; ++call) {
            ok(cudaMemcpyAsync(buf.ptr, input.ptr, bytes, cudaMemcpyDeviceToDevice, s));
            ranks[r]->all_reduce_sum(buf.ptr, count, dtype, s);
          }
          ok(cudaStreamSynchronize(s));
          got[static_cast<size_t>(r)] = buf.read();
          cudaStreamDestroy(s);
        });
        for (int32_t r = 0; r < n; ++r)
          EXPECT_EQ(got[static_cast<size_t>(r)], want) << n << " ranks, " << count << " elements, rank " << r;
      }
    }
  }
}

// Captured once per rank and replayed: every replay takes a fresh epoch from the device counter.
TEST(OneShotAllReduce, ReplayedFromGraphs) {
  REQUIRE_DEVICES(1);
  const int32_t n = 2;
  const int64_t count = 4096 * 16;
  const auto want = expected_sum(n, count, DeviceDType::BF16);
  auto ranks = one_shot_ranks(n, count * 2);
  std::vector<std::vector<std::vector<float>>> got(n);
  on_every_rank(n, [&](int32_t r) {
    DeviceBuffer input(rank_values(r, count), DeviceDType::BF16), buf(rank_values(r, count), DeviceDType::BF16);
    cudaStream_t s = nullptr;
    ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    cudaGraph_t graph = nullptr;
    ok(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    ok(cudaMemcpyAsync(buf.ptr, input.ptr, count * 2, cudaMemcpyDeviceToDevice, s));
    ranks[r]->all_reduce_sum(buf.ptr, count, DeviceDType::BF16, s);
    ok(cudaStreamEndCapture(s, &graph));
    cudaGraphExec_t exec = nullptr;
    ok(cudaGraphInstantiate(&exec, graph, 0));
    for (int replay = 0; replay < 5; ++replay) {
      ok(cudaGraphLaunch(exec, s));
      ok(cudaStreamSynchronize(s));
      got[r].push_back(buf.read());
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(s);
  });
  for (int32_t r = 0; r < n; ++r)
    for (size_t k = 0; k < got[r].size(); ++k) EXPECT_EQ(got[r][k], want) << "rank " << r << ", replay " << k;
}

// The communicator picks the one-shot path up to the threshold and the fallback above it; both
// give the same sums.
TEST(OneShotAllReduce, ThresholdPicksThePathAndBothSumAlike) {
  REQUIRE_DEVICES(1);
  const int32_t n = 2;
  auto fallback = make_one_device_group(n, 0);
  auto one_shot = one_shot_ranks(n, 4096 * 8 * 2);
  std::vector<std::unique_ptr<DeviceCommunicator>> comms;
  for (int32_t r = 0; r < n; ++r)
    comms.push_back(make_one_shot_communicator(std::move(one_shot[r]), std::move(fallback[r]), 4096 * 8 * 2));
  for (int64_t count : {int64_t{4096} * 8, int64_t{4096} * 8 + 8, int64_t{4096} * 40}) {
    std::vector<std::vector<float>> got(n);
    on_every_rank(n, [&](int32_t r) {
      DeviceBuffer buf(rank_values(r, count), DeviceDType::BF16);
      // A stream per rank: on one shared stream the first rank's one-shot kernel would wait for
      // the second's, queued behind it.
      cudaStream_t s = nullptr;
      ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
      comms[r]->all_reduce_sum(buf.ptr, count, DeviceDType::BF16, s);
      ok(cudaStreamSynchronize(s));
      got[r] = buf.read();
      cudaStreamDestroy(s);
    });
    EXPECT_EQ(got[0], expected_sum(n, count, DeviceDType::BF16)) << count;
    EXPECT_EQ(got[1], got[0]) << count;
  }
  EXPECT_THROW(OneShotAllReduce(2, 2, 64, 0), std::invalid_argument);
}

#ifdef TROUPE_HAVE_NCCL
TEST(Nccl, IdIsBytesAndABadOneIsRefused) {
  REQUIRE_DEVICES(1);
  const auto id = make_nccl_id();
  EXPECT_EQ(id.size(), nccl_id_bytes());
  EXPECT_EQ(nccl_id_bytes(), 128u);
  EXPECT_THROW(connect_nccl(std::span(id).first(10), 0, 1, 0), std::invalid_argument);
  EXPECT_THROW(connect_nccl(id, 1, 1, 0), std::invalid_argument);
  std::printf("NCCL %d\n", nccl_version());
}

// World size 1 runs ncclAllReduce for real: the sum of one rank is its own values, eagerly and
// replayed from a captured graph (what the decode graphs hold).
TEST(Nccl, WorldSizeOneLeavesTheValuesEagerlyAndInAGraph) {
  REQUIRE_DEVICES(1);
  const auto comm = connect_nccl(make_nccl_id(), 0, 1, 0);
  EXPECT_TRUE(comm->capturable());
  EXPECT_EQ(comm->size(), 1);
  const int64_t count = 4096 * 8;
  for (DeviceDType dtype : {DeviceDType::BF16, DeviceDType::F32}) {
    DeviceBuffer buf(rank_values(0, count), dtype);
    cudaStream_t s = nullptr;
    ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    comm->all_reduce_sum(buf.ptr, count, dtype, s);
    ok(cudaStreamSynchronize(s));
    EXPECT_EQ(buf.read(), expected_sum(1, count, dtype));
    cudaGraph_t graph = nullptr;
    ok(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    comm->all_reduce_sum(buf.ptr, count, dtype, s);
    ok(cudaStreamEndCapture(s, &graph));
    size_t nodes = 0;  // NCCL may make a one-rank in-place sum a no-op: reported, not required
    ok(cudaGraphGetNodes(graph, nullptr, &nodes));
    std::printf("captured all-reduce at world size 1: %zu graph node(s)\n", nodes);
    cudaGraphExec_t exec = nullptr;
    ok(cudaGraphInstantiate(&exec, graph, 0));
    for (int i = 0; i < 3; ++i) ok(cudaGraphLaunch(exec, s));
    ok(cudaStreamSynchronize(s));
    EXPECT_EQ(buf.read(), expected_sum(1, count, dtype));
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(s);
  }
}

// Two GPUs, a thread each (the multi-GPU machines of issue 15): eager and captured, against the
// plain sum, every rank the same bits.
TEST(Nccl, TwoGpusSumEagerlyAndInAGraph) {
  REQUIRE_DEVICES(2);
  const auto id = make_nccl_id();
  const int64_t count = 4096 * 16;
  std::vector<std::vector<float>> eager(2), replayed(2);
  on_every_rank(2, [&](int32_t r) {
    const auto comm = connect_nccl(id, r, 2, r);
    DeviceBuffer buf(rank_values(r, count), DeviceDType::BF16);
    cudaStream_t s = nullptr;
    ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    comm->all_reduce_sum(buf.ptr, count, DeviceDType::BF16, s);
    ok(cudaStreamSynchronize(s));
    eager[static_cast<size_t>(r)] = buf.read();
    DeviceBuffer again(rank_values(r, count), DeviceDType::BF16);
    cudaGraph_t graph = nullptr;
    ok(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    comm->all_reduce_sum(again.ptr, count, DeviceDType::BF16, s);
    ok(cudaStreamEndCapture(s, &graph));
    cudaGraphExec_t exec = nullptr;
    ok(cudaGraphInstantiate(&exec, graph, 0));
    ok(cudaGraphLaunch(exec, s));
    ok(cudaStreamSynchronize(s));
    replayed[static_cast<size_t>(r)] = again.read();
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(s);
  });
  const auto want = expected_sum(2, count, DeviceDType::BF16);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(eager[r], want) << "rank " << r;
    EXPECT_EQ(replayed[r], want) << "rank " << r;
  }
}
// Two GPUs: the one-shot kernel over peer memory (NVLink) sums as NCCL does, up to the order of
// the additions (NCCL's ring adds in its own order and rounds at each hop): within one bf16 step.
TEST(Nccl, OneShotOverTwoGpusAgreesWithNccl) {
  REQUIRE_DEVICES(2);
  const auto id = make_nccl_id();
  const int64_t count = 4096 * 64;
  auto one_shot = make_one_shot_group_local({0, 1}, count * 2);
  std::vector<std::vector<float>> nccl(2), ours(2);
  on_every_rank(2, [&](int32_t r) {
    const auto comm = connect_nccl(id, r, 2, r);
    DeviceBuffer a(rank_values(r, count), DeviceDType::BF16), b(rank_values(r, count), DeviceDType::BF16);
    cudaStream_t s = nullptr;
    ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    comm->all_reduce_sum(a.ptr, count, DeviceDType::BF16, s);
    one_shot[r]->all_reduce_sum(b.ptr, count, DeviceDType::BF16, s);
    ok(cudaStreamSynchronize(s));
    nccl[r] = a.read();
    ours[r] = b.read();
    cudaStreamDestroy(s);
  });
  EXPECT_EQ(ours[0], expected_sum(2, count, DeviceDType::BF16));
  EXPECT_EQ(ours[1], ours[0]);
  size_t apart = 0;
  for (size_t i = 0; i < ours[0].size(); ++i)
    apart += std::abs(ours[0][i] - nccl[0][i]) > 1e-2f * std::abs(nccl[0][i]) + 1e-6f;
  EXPECT_EQ(apart, 0u);
}
#else
TEST(Nccl, NotBuilt) { GTEST_SKIP() << "this build found no NCCL (nccl.h / libnccl)"; }
#endif

}  // namespace
}  // namespace troupe
