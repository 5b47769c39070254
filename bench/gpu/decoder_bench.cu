// Where a GPU step's time goes, Llama-3-8B shapes with dummy bf16 weights on one GPU:
//   1. each projection GEMM alone (cuBLASLt through kernels/cuda/Gemm) at batch 1..256, with the
//      bandwidth it reaches (weights over the rotating set exceed L2, as in a real step);
//   2. the whole decode step (Decoder::forward: staging, graph replay, sync) at batch 1..256 with
//      256-token contexts, against the weight-streaming floor;
//   3. prefill steps of 2,048 tokens.
// Run on the GPU machine: decoder_bench [layers=32] (SKIP_GEMMS=1: steps only). Numbers: median of
// repeated runs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/decoder.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gemm.h"
#include "bench/gpu/bench_step.h"

using troupe::cuda::Decoder;
using troupe::bench::llama3_8b;
using troupe::bench::median;
using troupe::bench::Step;

namespace {

void bench_gemms() {
  struct Shape { const char* name; int64_t n, k; };
  const Shape shapes[] = {{"qkv", 6144, 4096}, {"o", 4096, 4096}, {"gate_up", 28672, 4096},
                          {"down", 4096, 14336}, {"lm_head", 128256, 4096}};
  troupe::cuda::Gemm gemm;
  troupe::cuda::Gemm cublas_only(size_t{32} << 20, /*skinny=*/false);
  cudaStream_t s;
  TROUPE_CUDA_CHECK(cudaStreamCreate(&s));
  cudaEvent_t a, b;
  TROUPE_CUDA_CHECK(cudaEventCreate(&a));
  TROUPE_CUDA_CHECK(cudaEventCreate(&b));
  std::printf("%-8s %6s %10s %10s\n", "gemm", "batch", "us", "GB/s");
  for (const Shape& sh : shapes) {
    constexpr int kCopies = 4;  // rotating weights: 4 x >= 32 MB defeats the 50 MB L2
    std::vector<__nv_bfloat16*> w(kCopies);
    for (auto& p : w) {
      TROUPE_CUDA_CHECK(cudaMalloc(&p, sh.n * sh.k * 2));
      TROUPE_CUDA_CHECK(troupe::cuda::fill_uniform(p, sh.n * sh.k, 1, 0.0f, 0.05f, s));
    }
    __nv_bfloat16 *x, *y;
    TROUPE_CUDA_CHECK(cudaMalloc(&x, 256 * sh.k * 2));
    TROUPE_CUDA_CHECK(cudaMalloc(&y, 256 * sh.n * 2));
    TROUPE_CUDA_CHECK(troupe::cuda::fill_uniform(x, 256 * sh.k, 2, 0.0f, 1.0f, s));
    for (int64_t m : {-1, 1, -8, 8, 64, 256}) {  // negative: the same batch through cuBLASLt only
      std::vector<double> t;
      troupe::cuda::Gemm& g = m < 0 ? cublas_only : gemm;
      for (int rep = 0; rep < 40; ++rep) {
        TROUPE_CUDA_CHECK(cudaEventRecord(a, s));
        g.linear(y, x, w[rep % kCopies], nullptr, std::abs(m), sh.n, sh.k, s);
        TROUPE_CUDA_CHECK(cudaEventRecord(b, s));
        TROUPE_CUDA_CHECK(cudaEventSynchronize(b));
        float ms = 0;
        TROUPE_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
        if (rep >= 5) t.push_back(ms * 1e3);
      }
      const double us = median(t);
      const int64_t rows = std::abs(m);
      std::printf("%-8s %6lld%s %10.1f %10.0f\n", sh.name, static_cast<long long>(rows), m < 0 ? " cuBLASLt" : "",
                  us, (sh.n * sh.k * 2.0 + rows * (sh.k + sh.n) * 2.0) / (us * 1e-6) / 1e9);
    }
    for (auto p : w) cudaFree(p);
    cudaFree(x);
    cudaFree(y);
  }
}

// How close the heuristic's first cuBLASLt algorithm comes to the best of wider searches, per
// projection and row count (TFLOP/s beside the µs): its first 8 (what tune_gemms times), its
// first 32, its best configurations of every algorithm id, split-K variants of the first 8, and
// every tile and stage count their algorithms take.
void bench_gemm_tuning() {
  struct Shape { const char* name; int64_t n, k; };
  const Shape shapes[] = {{"qkv", 6144, 4096}, {"o", 4096, 4096}, {"gate_up", 28672, 4096}, {"down", 4096, 14336}};
  using Search = troupe::cuda::Gemm::Search;
  const struct { const char* name; Search search; } searches[] = {{"top 8", {.heuristic = 8}},
                                                                  {"top 32", {.heuristic = 32}},
                                                                  {"per id", {.heuristic = 8, .per_algo_id = 4}},
                                                                  {"split-k", {.heuristic = 8, .split_k = true}},
                                                                  {"tiles", {.heuristic = 8, .tiles = true}}};
  constexpr int64_t kMaxM = 2048;
  cudaStream_t s;
  TROUPE_CUDA_CHECK(cudaStreamCreate(&s));
  std::printf("\n%-8s %6s %16s", "gemm", "m", "heuristic us(TF)");
  for (const auto& se : searches) std::printf(" %16s", se.name);
  std::printf("   best: tried, algo, tile, stages, split-k\n");
  for (const Shape& sh : shapes) {
    __nv_bfloat16 *w, *x, *y;
    TROUPE_CUDA_CHECK(cudaMalloc(&w, sh.n * sh.k * 2));
    TROUPE_CUDA_CHECK(cudaMalloc(&x, kMaxM * sh.k * 2));
    TROUPE_CUDA_CHECK(cudaMalloc(&y, kMaxM * sh.n * 2));
    TROUPE_CUDA_CHECK(troupe::cuda::fill_uniform(w, sh.n * sh.k, 1, 0.0f, 0.05f, s));
    TROUPE_CUDA_CHECK(troupe::cuda::fill_uniform(x, kMaxM * sh.k, 2, 0.0f, 1.0f, s));
    for (int64_t m : {64, 128, 192, 224, 256, 384, 512, 2048}) {
      const double flop = 2.0 * m * sh.n * sh.k;
      std::printf("%-8s %6lld", sh.name, static_cast<long long>(m));
      troupe::cuda::Gemm::Tuning best{};
      bool first = true;
      for (const auto& se : searches) {
        troupe::cuda::Gemm gemm;  // fresh: no search inherits another's choice
        const auto t = gemm.tune(y, x, w, nullptr, m, sh.n, sh.k, se.search, s);
        if (first) std::printf(" %9.1f (%4.0f)", t.heuristic_us, flop / t.heuristic_us * 1e-6);
        first = false;
        std::printf(" %9.1f (%4.0f)", t.best_us, flop / t.best_us * 1e-6);
        if (best.best_us == 0 || t.best_us < best.best_us) best = t;
      }
      std::printf("   %d, %d, %d, %d, %d\n", best.tried, best.algo_id, best.tile, best.stages, best.split_k);
    }
    cudaFree(w);
    cudaFree(x);
    cudaFree(y);
  }
}

void bench_steps(int64_t layers) {
  Decoder d(llama3_8b(layers), 0);
  d.fill_dummy(1);
  const int width_tokens = 4096;
  d.allocate({.max_num_tokens = 2048, .max_num_seqs = 256, .max_context_len = width_tokens, .block_size = 16},
             8192, 0.9);
  d.capture_decode_graphs();
  const int W = d.block_table_width();
  const double floor_ms = static_cast<double>(d.weight_bytes()) / 3.0e12 * 1e3;
  std::printf("\nweights %.2f GB, floor at 3.0 TB/s %.2f ms\n%-22s %10s %12s\n", d.weight_bytes() / 1e9, floor_ms,
              "step", "ms", "tokens/s");
  auto time_step = [&](const Step& st, int reps) {
    std::vector<double> t;
    for (int rep = 0; rep < reps; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      d.forward(st.view());
      TROUPE_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(d.stream())));
      if (rep >= 3) t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    return median(t);
  };
  for (int S : {1, 8, 64, 128, 256}) {
    const double ms = time_step(Step(S, 1, 256, W), 30);
    std::printf("decode batch %-9d %10.3f %12.0f\n", S, ms, S / ms * 1e3);
  }
  for (auto [S, q] : {std::pair{1, 2048}, std::pair{16, 128}, std::pair{1, 1792}}) {
    const double ms = time_step(Step(S, q, q, W), 8);
    std::printf("prefill %2d x %-9d %10.3f %12.0f\n", S, q, ms, S * q / ms * 1e3);
  }
  // What serving runs most: a decode batch sharing its step with a prefill chunk (no graph; all
  // sequences through the prefill attention kernel), against the two run apart.
  for (auto [S, q] : {std::pair{224, 1824}, std::pair{128, 1920}, std::pair{192, 256}}) {
    const double decode_ms = time_step(Step(S, 1, 192, W), 10);
    const double prefill_ms = time_step(Step(1, q, q, W), 8);
    const double mixed_ms = time_step(Step(W).add(S, 1, 192).add(1, q, q), 8);
    std::printf("mixed %3d decodes (ctx 192) + %4d prefill: %8.3f ms (decode alone %.3f + prefill alone %.3f)\n", S,
                q, mixed_ms, decode_ms, prefill_ms);
  }
}

// One served-like mixed step (205 decodes at 192 tokens of context beside 15 prompt chunks of 122)
// and one 256-sequence decode step, eager, a few times each: for a kernel profiler (ncu) to time
// every kernel of them, e.g. `PROFILE_STEPS=1 ncu --metrics gpu__time_duration.sum decoder_bench 4`.
void profile_steps(int64_t layers) {
  Decoder d(llama3_8b(layers), 0);
  d.fill_dummy(1);
  d.allocate({.max_num_tokens = 2048, .max_num_seqs = 256, .max_context_len = 4096, .block_size = 16}, 8192, 0.9);
  const int W = d.block_table_width();
  const Step mixed = Step(W).add(205, 1, 192).add(15, 122, 122);
  const Step decode(256, 1, 192, W);
  for (const Step* st : {&mixed, &decode})
    for (int rep = 0; rep < 2; ++rep) {
      d.forward(st->view());
      TROUPE_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(d.stream())));
    }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (std::getenv("PROFILE_STEPS") != nullptr) {
      profile_steps(argc > 1 ? std::atoi(argv[1]) : 4);
      return 0;
    }
    if (std::getenv("SKIP_GEMMS") == nullptr) {
      bench_gemms();
      bench_gemm_tuning();
    }
    if (std::getenv("SKIP_STEPS") == nullptr) bench_steps(argc > 1 ? std::atoi(argv[1]) : 32);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
