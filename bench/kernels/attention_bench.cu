// Times the GPU attention kernels on Llama-3-8B shapes (32 heads, 8 kv heads, head_dim 128,
// block size 16) and states each against its floor:
//   decode: KV bytes read / time vs the device-to-device copy bandwidth measured here;
//   prefill: causal FLOPs / time; rope_kv_write: bytes moved / time.
// Decode is timed as CUDA-graph replays of launches that each read a different set of blocks, so
// short contexts are not served from the 50 MB L2. Medians of many replays, CUDA events.
//
// Build by hand from the repository root (no CMake target: it is run on a GPU machine only):
//   nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a --use_fast_math -I. \
//     bench/kernels/attention_bench.cu kernels/cuda/paged_attention.cu \
//     kernels/cuda/prefill_attention.cu kernels/cuda/rope_kv_write.cu -o attention_bench
// `attention_bench decode` runs the decode table only.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/cuda/paged_attention.h"
#include "kernels/cuda/prefill_attention.h"
#include "kernels/cuda/rope_kv_write.h"

#define CHECK(call)                                                                       \
  do {                                                                                    \
    cudaError_t e_ = (call);                                                              \
    if (e_ != cudaSuccess) {                                                              \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
      std::exit(1);                                                                       \
    }                                                                                     \
  } while (0)

using bf16 = __nv_bfloat16;
constexpr int kHeads = 32, kKvHeads = 8, kDim = 128, kBlock = 16;

// Random (not zero) bf16 in [-1, 1): zeros can run faster than real data.
__global__ void fill_random(bf16* x, size_t n, uint32_t seed) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    x[i] = __float2bfloat16(static_cast<float>(h & 0xffff) / 32768.0f - 1.0f);
  }
}

bf16* alloc_random(size_t n, uint32_t seed) {
  bf16* p;
  CHECK(cudaMalloc(&p, n * sizeof(bf16)));
  fill_random<<<1024, 256>>>(p, n, seed);
  CHECK(cudaGetLastError());
  return p;
}

template <class F>
float median_ms(F&& body, int reps) {
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  std::vector<float> ms(reps);
  for (int i = 0; i < reps; ++i) {
    CHECK(cudaEventRecord(a));
    body();
    CHECK(cudaEventRecord(b));
    CHECK(cudaEventSynchronize(b));
    CHECK(cudaEventElapsedTime(&ms[i], a, b));
  }
  std::sort(ms.begin(), ms.end());
  return ms[reps / 2];
}

double copy_bandwidth_gbs() {
  const size_t bytes = size_t{1} << 30;
  void *src, *dst;
  CHECK(cudaMalloc(&src, bytes));
  CHECK(cudaMalloc(&dst, bytes));
  CHECK(cudaMemset(src, 1, bytes));
  CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
  const float ms = median_ms([&] { CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice)); }, 20);
  CHECK(cudaFree(src));
  CHECK(cudaFree(dst));
  return 2.0 * bytes / (ms * 1e-3) / 1e9;
}

// Median microseconds of one decode launch over `sets` disjoint block sets, each launch one graph node.
float time_decode(int batch, int ctx, int64_t max_ctx) {
  const int64_t blocks_per_seq = (ctx + kBlock - 1) / kBlock;
  const int64_t table_width = (max_ctx + kBlock - 1) / kBlock;
  const double set_bytes = double(batch) * blocks_per_seq * kBlock * kKvHeads * kDim * 2 * 2;
  const int sets = static_cast<int>(std::clamp(std::ceil(512e6 / set_bytes), 2.0, 64.0));
  const int64_t num_blocks = blocks_per_seq * batch * sets;
  const size_t cache_elems = size_t(num_blocks) * kBlock * kKvHeads * kDim;
  bf16* k = alloc_random(cache_elems, 1);
  bf16* v = alloc_random(cache_elems, 2);
  const int64_t q_stride = (kHeads + 2 * kKvHeads) * kDim;
  bf16* q = alloc_random(size_t(batch) * q_stride, 3);
  bf16* out;
  CHECK(cudaMalloc(&out, size_t(batch) * kHeads * kDim * sizeof(bf16)));
  std::vector<int32_t> pool(num_blocks);
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), std::mt19937(7));
  std::vector<int32_t> tables(size_t(sets) * batch * table_width, 0);
  for (int s = 0; s < sets; ++s)
    for (int b = 0; b < batch; ++b)
      for (int64_t i = 0; i < blocks_per_seq; ++i)
        tables[(size_t(s) * batch + b) * table_width + i] = pool[(size_t(s) * batch + b) * blocks_per_seq + i];
  int32_t *d_tables, *d_ctx;
  CHECK(cudaMalloc(&d_tables, tables.size() * sizeof(int32_t)));
  CHECK(cudaMemcpy(d_tables, tables.data(), tables.size() * sizeof(int32_t), cudaMemcpyHostToDevice));
  std::vector<int32_t> ctxs(batch, ctx);
  CHECK(cudaMalloc(&d_ctx, batch * sizeof(int32_t)));
  CHECK(cudaMemcpy(d_ctx, ctxs.data(), batch * sizeof(int32_t), cudaMemcpyHostToDevice));
  const size_t ws_bytes = troupe::cuda::paged_decode_workspace_bytes(batch, kHeads, kDim, max_ctx);
  float* ws;
  CHECK(cudaMalloc(&ws, std::max<size_t>(ws_bytes, 16)));
  const troupe::cuda::PagedKvCache cache{k, v, kBlock, kKvHeads, kDim};

  cudaStream_t stream;
  CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  auto launch_all = [&] {
    for (int s = 0; s < sets; ++s)
      CHECK(troupe::cuda::paged_decode_attention(out, q, q_stride, cache, d_tables + size_t(s) * batch * table_width,
                                                 table_width, d_ctx, batch, kHeads, 1.0f / std::sqrt(float(kDim)),
                                                 max_ctx, ws, ws_bytes, stream));
  };
  launch_all();  // warm-up outside capture
  CHECK(cudaStreamSynchronize(stream));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  launch_all();
  CHECK(cudaStreamEndCapture(stream, &graph));
  CHECK(cudaGraphInstantiate(&exec, graph, 0));
  CHECK(cudaGraphLaunch(exec, stream));
  CHECK(cudaStreamSynchronize(stream));
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  std::vector<float> us(40);
  for (float& t : us) {
    CHECK(cudaEventRecord(a, stream));
    CHECK(cudaGraphLaunch(exec, stream));
    CHECK(cudaEventRecord(b, stream));
    CHECK(cudaEventSynchronize(b));
    CHECK(cudaEventElapsedTime(&t, a, b));
    t = t * 1e3f / sets;
  }
  std::sort(us.begin(), us.end());
  CHECK(cudaGraphExecDestroy(exec));
  CHECK(cudaGraphDestroy(graph));
  CHECK(cudaStreamDestroy(stream));
  for (void* p : {(void*)k, (void*)v, (void*)q, (void*)out, (void*)d_tables, (void*)d_ctx, (void*)ws})
    CHECK(cudaFree(p));
  return us[us.size() / 2];
}

// Median microseconds of a prefill of `seqs` prompts of `len` tokens each.
float time_prefill(int seqs, int len) {
  const int64_t blocks_per_seq = (len + kBlock - 1) / kBlock;
  const int64_t num_blocks = blocks_per_seq * seqs;
  const size_t cache_elems = size_t(num_blocks) * kBlock * kKvHeads * kDim;
  bf16* k = alloc_random(cache_elems, 4);
  bf16* v = alloc_random(cache_elems, 5);
  const int64_t q_stride = (kHeads + 2 * kKvHeads) * kDim, tokens = int64_t{seqs} * len;
  bf16* q = alloc_random(size_t(tokens) * q_stride, 6);
  bf16* out;
  CHECK(cudaMalloc(&out, size_t(tokens) * kHeads * kDim * sizeof(bf16)));
  std::vector<int32_t> tables(num_blocks), starts(seqs + 1), ctxs(seqs, len);
  std::iota(tables.begin(), tables.end(), 0);
  std::shuffle(tables.begin(), tables.end(), std::mt19937(8));
  for (int s = 0; s <= seqs; ++s) starts[s] = s * len;
  int32_t *d_tables, *d_starts, *d_ctx;
  CHECK(cudaMalloc(&d_tables, tables.size() * sizeof(int32_t)));
  CHECK(cudaMalloc(&d_starts, starts.size() * sizeof(int32_t)));
  CHECK(cudaMalloc(&d_ctx, ctxs.size() * sizeof(int32_t)));
  CHECK(cudaMemcpy(d_tables, tables.data(), tables.size() * sizeof(int32_t), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(d_starts, starts.data(), starts.size() * sizeof(int32_t), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(d_ctx, ctxs.data(), ctxs.size() * sizeof(int32_t), cudaMemcpyHostToDevice));
  const troupe::cuda::PagedKvCache cache{k, v, kBlock, kKvHeads, kDim};
  auto run = [&] {
    CHECK(troupe::cuda::paged_prefill_attention(out, q, q_stride, cache, d_tables, blocks_per_seq, d_starts, d_ctx,
                                                seqs, kHeads, 1.0f / std::sqrt(float(kDim)), len, nullptr));
  };
  for (int i = 0; i < 3; ++i) run();
  const float ms = median_ms(run, 30);
  for (void* p : {(void*)k, (void*)v, (void*)q, (void*)out, (void*)d_tables, (void*)d_starts, (void*)d_ctx})
    CHECK(cudaFree(p));
  return ms * 1e3f;
}

float time_rope(int tokens) {
  const int64_t stride = (kHeads + 2 * kKvHeads) * kDim, kv_row = kKvHeads * kDim;
  bf16* qkv = alloc_random(size_t(tokens) * stride, 9);
  bf16 *kc, *vc;
  CHECK(cudaMalloc(&kc, size_t(tokens) * kv_row * sizeof(bf16)));
  CHECK(cudaMalloc(&vc, size_t(tokens) * kv_row * sizeof(bf16)));
  std::vector<int32_t> pos(tokens), slots(tokens);
  std::iota(pos.begin(), pos.end(), 100000);
  std::iota(slots.begin(), slots.end(), 0);
  std::vector<float> inv_freq(kDim / 2);
  for (int i = 0; i < kDim / 2; ++i) inv_freq[i] = 1.0f / std::pow(500000.0f, 2.0f * i / kDim);
  int32_t *d_pos, *d_slots;
  float* d_freq;
  CHECK(cudaMalloc(&d_pos, tokens * sizeof(int32_t)));
  CHECK(cudaMalloc(&d_slots, tokens * sizeof(int32_t)));
  CHECK(cudaMalloc(&d_freq, inv_freq.size() * sizeof(float)));
  CHECK(cudaMemcpy(d_pos, pos.data(), tokens * sizeof(int32_t), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(d_slots, slots.data(), tokens * sizeof(int32_t), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(d_freq, inv_freq.data(), inv_freq.size() * sizeof(float), cudaMemcpyHostToDevice));
  const troupe::cuda::PagedKvCache cache{kc, vc, kBlock, kKvHeads, kDim};
  auto run = [&] {
    CHECK(troupe::cuda::rope_kv_write(qkv, stride, d_pos, d_freq, d_slots, tokens, kHeads, cache, nullptr));
  };
  for (int i = 0; i < 3; ++i) run();
  const float ms = median_ms(run, 50);
  for (void* p : {(void*)qkv, (void*)kc, (void*)vc, (void*)d_pos, (void*)d_slots, (void*)d_freq}) CHECK(cudaFree(p));
  return ms * 1e3f;
}

int main(int argc, char** argv) {
  const bool decode_only = argc > 1 && std::string(argv[1]) == "decode";
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  const double copy = copy_bandwidth_gbs();
  std::printf("%s, %d SMs; device-to-device copy %.0f GB/s (read + write)\n", prop.name,
              prop.multiProcessorCount, copy);
  std::printf("\ndecode (32 heads, 8 kv heads, d 128, block 16): us per launch, KV GB/s, %% of copy\n");
  std::printf("%6s %6s %10s | %9s %8s %6s | %s\n", "batch", "ctx", "KV MB", "us", "GB/s", "%copy",
              "us with max_context_len 32768 (graph bound)");
  for (int batch : {1, 64, 256})
    for (int ctx : {512, 4096}) {
      const double bytes = double(batch) * ctx * kKvHeads * kDim * 2 * 2;
      const float us = time_decode(batch, ctx, ctx);
      const float loose = time_decode(batch, ctx, 32768);
      const double gbs = bytes / (us * 1e-6) / 1e9;
      std::printf("%6d %6d %10.1f | %9.2f %8.0f %5.0f%% | %.2f\n", batch, ctx, bytes / 1e6, us, gbs,
                  100.0 * gbs / copy, loose);
    }
  if (decode_only) return 0;
  std::printf("\nprefill (causal, whole prompts): us, TFLOP/s (QK^T + PV, causal half)\n");
  for (auto [seqs, len] : {std::pair{1, 2048}, {4, 2048}, {1, 8192}}) {
    const float us = time_prefill(seqs, len);
    const double flops = 4.0 * seqs * kHeads * kDim * (double(len) * (len + 1) / 2);
    std::printf("%d x %5d tokens: %9.1f us  %6.1f TFLOP/s\n", seqs, len, us, flops / (us * 1e-6) / 1e12);
  }
  std::printf("\nrope_kv_write (qkv read + q,k written + k,v to cache): us, GB/s\n");
  for (int tokens : {256, 2048, 16384}) {
    const float us = time_rope(tokens);
    const double bytes = double(tokens) * ((kHeads + 2 * kKvHeads) + (kHeads + kKvHeads) + 2 * kKvHeads) * kDim * 2;
    std::printf("%6d tokens: %8.2f us  %6.0f GB/s\n", tokens, us, bytes / (us * 1e-6) / 1e9);
  }
  return 0;
}
