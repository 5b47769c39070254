// The kernels of a step other than its GEMMs, each timed alone at Llama-3-8B shapes (x 32 layers
// gives their share of a step; decoder_bench gives the GEMMs and whole steps). Answers where a
// prefill or mixed step's time goes beyond the tensor-core products.
// Run on the GPU machine: step_kernels_bench. Numbers: median of 20 runs, CUDA events.
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "bench/gpu/bench_step.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/paged_attention.h"
#include "kernels/cuda/prefill_attention.h"
#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/rope_kv_write.h"

namespace {

using bf16 = __nv_bfloat16;
using troupe::bench::median;
using troupe::bench::Step;
namespace cu = troupe::cuda;

constexpr int64_t kHidden = 4096, kInter = 14336, kHeads = 32, kKvHeads = 8, kHeadDim = 128;
constexpr int64_t kQkv = (kHeads + 2 * kKvHeads) * kHeadDim;
constexpr int64_t kMaxTokens = 2048, kBlocks = 8192, kMaxContext = 4096, kWidth = kMaxContext / 16;

template <typename T>
T* device(int64_t count) {
  void* p = nullptr;
  TROUPE_CUDA_CHECK(cudaMalloc(&p, count * sizeof(T)));
  return static_cast<T*>(p);
}

int32_t* upload(const std::vector<int32_t>& v) {
  int32_t* p = device<int32_t>(static_cast<int64_t>(v.size()) + 1);
  TROUPE_CUDA_CHECK(cudaMemcpy(p, v.data(), v.size() * sizeof(int32_t), cudaMemcpyHostToDevice));
  return p;
}

double time_us(cudaStream_t s, const std::function<cudaError_t()>& launch) {
  cudaEvent_t a, b;
  TROUPE_CUDA_CHECK(cudaEventCreate(&a));
  TROUPE_CUDA_CHECK(cudaEventCreate(&b));
  std::vector<double> t;
  for (int rep = 0; rep < 23; ++rep) {
    TROUPE_CUDA_CHECK(cudaEventRecord(a, s));
    TROUPE_CUDA_CHECK(launch());
    TROUPE_CUDA_CHECK(cudaEventRecord(b, s));
    TROUPE_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    TROUPE_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    if (rep >= 3) t.push_back(ms * 1e3);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return median(t);
}

void row(const std::string& what, double us) { std::printf("%-58s %9.1f %9.2f\n", what.c_str(), us, us * 32 / 1e3); }

}  // namespace

int main() {
  try {
    cudaStream_t s;
    TROUPE_CUDA_CHECK(cudaStreamCreate(&s));
    bf16* residual = device<bf16>(kMaxTokens * kHidden);
    bf16* normed = device<bf16>(kMaxTokens * kHidden);
    bf16* delta = device<bf16>(kMaxTokens * kHidden);
    bf16* qkv = device<bf16>(kMaxTokens * kQkv);
    bf16* gate_up = device<bf16>(kMaxTokens * 2 * kInter);
    bf16* act = device<bf16>(kMaxTokens * kInter);
    bf16* attn = device<bf16>(kMaxTokens * kHeads * kHeadDim);
    bf16* norm_w = device<bf16>(kHidden);
    const int64_t kv_elems = kBlocks * 16 * kKvHeads * kHeadDim;
    bf16* k_cache = device<bf16>(kv_elems);
    bf16* v_cache = device<bf16>(kv_elems);
    for (auto [p, n] : {std::pair{residual, kMaxTokens * kHidden}, std::pair{delta, kMaxTokens * kHidden},
                        std::pair{qkv, kMaxTokens * kQkv}, std::pair{gate_up, kMaxTokens * 2 * kInter},
                        std::pair{norm_w, kHidden}, std::pair{k_cache, kv_elems}, std::pair{v_cache, kv_elems}})
      TROUPE_CUDA_CHECK(cu::fill_uniform(p, n, 7, 0.0f, 0.5f, s));
    std::vector<float> inv_freq_host;
    for (int i = 0; i < kHeadDim / 2; ++i) inv_freq_host.push_back(std::pow(500000.0f, -i / 64.0f));
    float* inv_freq = device<float>(kHeadDim / 2);
    TROUPE_CUDA_CHECK(cudaMemcpy(inv_freq, inv_freq_host.data(), inv_freq_host.size() * 4, cudaMemcpyHostToDevice));
    const cu::PagedKvCache cache{k_cache, v_cache, 16, static_cast<int32_t>(kKvHeads), static_cast<int32_t>(kHeadDim)};
    const size_t ws_bytes = cu::paged_decode_workspace_bytes(256, kHeads, kHeadDim, kMaxContext);
    auto* ws = device<float>(static_cast<int64_t>(ws_bytes / 4) + 1);
    const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));

    std::printf("%-58s %9s %9s\n", "kernel (Llama-3-8B shapes)", "us", "x32 ms");
    for (int64_t T : {256, 2048}) {
      const std::string t = std::to_string(T) + " tokens";
      row("fused_add_rms_norm, " + t, time_us(s, [&] {
            return cu::fused_add_rms_norm(normed, residual, delta, norm_w, T, kHidden, 1e-5f, s);
          }));
      row("silu_mul, " + t, time_us(s, [&] { return cu::silu_mul(act, gate_up, T, kInter, s); }));
    }
    struct Case { const char* name; Step step; };
    std::vector<Case> cases;
    cases.push_back({"16 x 128 prefill", Step(16, 128, 128, kWidth)});
    cases.push_back({"1 x 2048 prefill", Step(1, 2048, 2048, kWidth)});
    cases.push_back({"224 decodes (ctx 192) + 1 x 1824 prefill", Step(kWidth).add(224, 1, 192).add(1, 1824, 1824)});
    cases.push_back({"224 decodes (ctx 192)", Step(224, 1, 192, kWidth)});
    cases.push_back({"256 decodes (ctx 192)", Step(256, 1, 192, kWidth)});
    cases.push_back({"256 decodes (ctx 320)", Step(256, 1, 320, kWidth)});
    cases.push_back({"128 decodes (ctx 192)", Step(128, 1, 192, kWidth)});
    for (const Case& c : cases) {
      const auto T = static_cast<int64_t>(c.step.tokens.size());
      const auto S = static_cast<int64_t>(c.step.context.size());
      int32_t *positions = upload(c.step.positions), *slots = upload(c.step.slots), *tables = upload(c.step.tables);
      int32_t *query_start = upload(c.step.query_start), *context = upload(c.step.context);
      int max_q = 0;
      for (int64_t i = 0; i < S; ++i) max_q = std::max(max_q, c.step.query_start[i + 1] - c.step.query_start[i]);
      row(std::string("rope_kv_write, ") + c.name, time_us(s, [&] {
            return cu::rope_kv_write(qkv, kQkv, positions, inv_freq, slots, T, kHeads, cache, s);
          }));
      row(std::string("prefill attention, ") + c.name, time_us(s, [&] {
            return cu::paged_prefill_attention(attn, qkv, kQkv, cache, tables, kWidth, query_start, context, S, kHeads,
                                               scale, max_q, s);
          }));
      if (max_q == 1)
        row(std::string("decode attention, ") + c.name, time_us(s, [&] {
              return cu::paged_decode_attention(attn, qkv, kQkv, cache, tables, kWidth, context, S, kHeads, scale,
                                                kMaxContext, ws, ws_bytes, s);
            }));
      for (int32_t* p : {positions, slots, tables, query_start, context}) cudaFree(p);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
