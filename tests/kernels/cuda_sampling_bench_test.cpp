// Timing only, kept apart from the correctness tests (cuda_sampling_test.cpp) so each file pins
// one thing. Beside the medians it prints one HBM read of the logits: the floor any pass stays above.
#include <gtest/gtest.h>

#include "cuda_test_device.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include <cuda_runtime_api.h>

#include "cuda_sampling_inputs.h"  // make_rows, row_params, DrawConfig, DeviceArray
#include "kernels/cuda/sampling.h"

namespace {

using troupe::cuda::PenaltyTokens;

// Not a check: median launch time for the brief's shapes, printed for docs/benchmarks.md.
TEST(CudaSamplingBench, MedianLaunchTime) {
  if (!troupe::test::have_cuda_device()) GTEST_SKIP() << "no CUDA device found";
  const int64_t vocab = 128256;
  struct Case {
    const char* name;
    DrawConfig d;
    bool penalties;
    int num_top;
  };
  const Case cases[] = {
      {"greedy", {0.0f, 0, 1.0f, 0.0f}, false, 0},
      {"T=1", {1.0f, 0, 1.0f, 0.0f}, false, 0},
      {"T=0.7 top_p=0.9", {0.7f, 0, 0.9f, 0.0f}, false, 0},
      {"T=0.7 k=50 p=0.95 min_p=0.05", {0.7f, 50, 0.95f, 0.05f}, false, 0},
      {"T=1 + penalties (2048 ids)", {1.0f, 0, 1.0f, 0.0f}, true, 0},
      {"T=0.7 top_p=0.9 + top-20 logprobs", {0.7f, 0, 0.9f, 0.0f}, false, 20},
  };
  std::mt19937_64 rng(11);
  std::printf("%-36s %10s %10s %10s   (vocab %lld, H2D excluded)\n", "case", "1 row", "64 rows", "256 rows",
              static_cast<long long>(vocab));
  const std::vector<float> base =
      make_rows(256, vocab, 11, [](int64_t r) { return r % 2 ? Shape::kPeaked : Shape::kGumbel; });
  for (const Case& c : cases) {
    std::printf("%-36s", c.name);
    for (int64_t rows : {1, 64, 256}) {
      std::vector<RowSamplingParams> ps;
      std::vector<int32_t> ids, row_begin{0}, output_begin;
      for (int64_t r = 0; r < rows; ++r) {
        RowSamplingParams p = row_params(c.d.temperature, c.d.top_k, c.d.top_p, c.d.min_p, rng(), r);
        if (c.penalties) {
          p.repetition_penalty = 1.1f;
          p.frequency_penalty = 0.2f;
          for (int i = 0; i < 1536; ++i) ids.push_back(static_cast<int32_t>(rng() % vocab));
          output_begin.push_back(static_cast<int32_t>(ids.size()));
          for (int i = 0; i < 512; ++i) ids.push_back(static_cast<int32_t>(rng() % 2000));
        } else {
          output_begin.push_back(static_cast<int32_t>(ids.size()));
        }
        row_begin.push_back(static_cast<int32_t>(ids.size()));
        ps.push_back(p);
      }
      DeviceArray<float> logits(std::vector<float>(base.begin(), base.begin() + rows * vocab));
      DeviceArray<RowSamplingParams> d_params(ps);
      DeviceArray<int32_t> d_ids(ids), d_rb(row_begin), d_ob(output_begin);
      DeviceArray<int32_t> tokens(rows), top_ids(rows * 20);
      DeviceArray<float> chosen(rows), top_lp(rows * 20);
      PenaltyTokens pen;
      if (!ids.empty()) pen = {d_ids.ptr, d_rb.ptr, d_ob.ptr, static_cast<int64_t>(ids.size())};
      const size_t ws_bytes =
          troupe::cuda::sampling_workspace_bytes(rows, static_cast<int64_t>(ids.size()), 0);
      DeviceArray<char> ws(ws_bytes);
      cudaEvent_t start, stop;
      cudaEventCreate(&start);
      cudaEventCreate(&stop);
      std::vector<float> ms;
      for (int it = 0; it < 60; ++it) {
        cudaEventRecord(start);
        const cudaError_t err = troupe::cuda::sample_tokens(
            tokens.ptr, logits.ptr, d_params.ptr, pen, {}, c.num_top ? chosen.ptr : nullptr,
            c.num_top ? top_ids.ptr : nullptr, c.num_top ? top_lp.ptr : nullptr, c.num_top, ws.ptr, ws_bytes, rows,
            vocab, nullptr);
        cudaEventRecord(stop);
        ASSERT_EQ(err, cudaSuccess);
        ASSERT_EQ(cudaEventSynchronize(stop), cudaSuccess);
        float t = 0.0f;
        cudaEventElapsedTime(&t, start, stop);
        if (it >= 10) ms.push_back(t);
      }
      std::sort(ms.begin(), ms.end());
      std::printf(" %8.1fus", 1000.0f * ms[ms.size() / 2]);
      cudaEventDestroy(start);
      cudaEventDestroy(stop);
    }
    std::printf("\n");
  }
  std::printf("one read of the logits at 3.35 TB/s: %.1f / %.1f / %.1f us\n", 1 * vocab * 4 / 3.35e6,
              64 * vocab * 4 / 3.35e6, 256 * vocab * 4 / 3.35e6);
}

}  // namespace
