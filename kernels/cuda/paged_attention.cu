#include "kernels/cuda/paged_attention.h"

#include <algorithm>
#include <cmath>

#include "kernels/cuda/paged_attention.cuh"  // attention_tile_kernel, AttentionTileParams

namespace troupe::cuda {
namespace {

using detail::AttentionTileParams;
using detail::kTileTokens;

// Blocks the split aims for: 132 SMs x 4 (three decode blocks fit an SM at head_dim 128), with
// at least two tiles a partition so each block has its second tile in flight while it computes
// the first. Measured on an H100 (bench/kernels/attention_bench.cu, batch 1): context 4096 went
// from 18.1 us with one-tile partitions to 14.5 us; targets of 3 x 132 left batch 64 x 4096
// unsplit and 15% slower; 6 x 132 changed nothing.
constexpr int64_t kTargetBlocks = 4 * 132;
constexpr int64_t kMinPartitionTokens = 2 * kTileTokens;
constexpr int kMergeThreads = 128;
constexpr int kDecodeRows = 16;  // rows a decode block holds: group sizes up to 16 in one block

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Partitions per (sequence, kv head, row tile) so the grid reaches the target; a batch that
// already fills the GPU is not split. Never more than max_context_len has minimum partitions.
int64_t decode_partitions(int64_t num_seqs, int64_t blocks_per_partition, int64_t max_context_len) {
  const int64_t wanted = ceil_div(kTargetBlocks, std::max<int64_t>(1, num_seqs * blocks_per_partition));
  const int64_t most = ceil_div(std::max<int64_t>(1, max_context_len), kMinPartitionTokens);
  return std::max<int64_t>(1, std::min(wanted, most));
}

// One block per (head, sequence): rescales each partition's normalised output by its share of
// the softmax sum, exp2(m_p - m) * l_p, and writes bf16. Sequences that fit one partition were
// written by the tile kernel directly.
template <int D>
__global__ void __launch_bounds__(kMergeThreads)
merge_partitions_kernel(__nv_bfloat16* __restrict__ out, const float* __restrict__ partial_o,
                        const float* __restrict__ partial_ml, const int32_t* __restrict__ context_lens,
                        int num_heads, int num_partitions, int min_partition_tokens) {
  extern __shared__ float weight[];  // [num_partitions]
  __shared__ float warp_red[kMergeThreads / 32];
  // Launched as a programmatic dependent of the tile kernel: wait for all of its writes.
  pdl_wait();
  pdl_launch_dependents();
  const int head = blockIdx.x, seq = blockIdx.y, tid = threadIdx.x;
  const int ctx = context_lens[seq];
  const int part_tokens = detail::partition_tokens(ctx, num_partitions, min_partition_tokens);
  const int n = (ctx + part_tokens - 1) / part_tokens;
  if (n <= 1) return;
  const int64_t base = (static_cast<int64_t>(seq) * num_heads + head) * num_partitions;
  const float2* ml = reinterpret_cast<const float2*>(partial_ml) + base;

  float mx = -INFINITY;
  for (int i = tid; i < n; i += kMergeThreads) mx = fmaxf(mx, ml[i].x);
  for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
  if (tid % 32 == 0) warp_red[tid / 32] = mx;
  __syncthreads();
  mx = warp_red[0];
  for (int w = 1; w < kMergeThreads / 32; ++w) mx = fmaxf(mx, warp_red[w]);
  __syncthreads();  // warp_red is reused for the sum

  float sum = 0.0f;
  for (int i = tid; i < n; i += kMergeThreads) {
    const float2 x = ml[i];
    weight[i] = exp2f(x.x - mx) * x.y;
    sum += weight[i];
  }
  for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  if (tid % 32 == 0) warp_red[tid / 32] = sum;
  __syncthreads();
  sum = 0.0f;
  for (int w = 0; w < kMergeThreads / 32; ++w) sum += warp_red[w];
  const float inv = 1.0f / sum;

  for (int d = tid; d < D; d += kMergeThreads) {
    float acc = 0.0f;
    for (int i = 0; i < n; ++i) acc += weight[i] * partial_o[(base + i) * D + d];
    out[(static_cast<int64_t>(seq) * num_heads + head) * D + d] = __float2bfloat16(acc * inv);
  }
}

template <int D>
cudaError_t launch_decode(const AttentionTileParams& p, int64_t num_seqs, int64_t m_tiles,
                          cudaStream_t stream) {
  using Shape = detail::TileShape<D, 4>;
  auto kernel = detail::attention_tile_kernel<D, 4>;
  // Per launch, not once: the attribute belongs to the current device, and setting it is legal
  // during stream capture.
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(Shape::kSmemBytes));
  if (err != cudaSuccess) return err;
  const dim3 grid(static_cast<unsigned>(m_tiles * p.num_partitions * p.num_kv_heads),
                  static_cast<unsigned>(num_seqs));
  err = launch_pdl(kernel, grid, dim3(detail::kTileThreads), Shape::kSmemBytes, stream, p);
  if (err != cudaSuccess || p.num_partitions == 1) return err;
  // The merge grid is scheduled while the tile kernel's last wave runs instead of after it
  // drains, which is most of the merge's cost at batch 1.
  return launch_pdl(merge_partitions_kernel<D>, dim3(p.num_heads, static_cast<unsigned>(num_seqs)),
                    dim3(kMergeThreads), p.num_partitions * sizeof(float), stream, p.out,
                    static_cast<const float*>(p.partial_o), static_cast<const float*>(p.partial_ml), p.context_lens,
                    p.num_heads, p.num_partitions, p.min_partition_tokens);
}

// The partial buffers of a split: outputs, then (max, sum) pairs.
size_t partial_floats(int64_t num_seqs, int64_t num_heads, int64_t head_dim, int64_t num_partitions) {
  return static_cast<size_t>(num_seqs * num_heads * num_partitions * (head_dim + 2));
}

}  // namespace

size_t paged_decode_workspace_bytes(int64_t max_num_seqs, int64_t num_heads, int64_t head_dim,
                                    int64_t max_context_len) {
  // An upper bound over every call the header allows: one kv head and one row tile give the most
  // partitions, and fewer sequences or a shorter max_context_len never give more.
  size_t worst = 0;
  for (int64_t n = 1; n <= max_num_seqs; ++n)
    worst = std::max(worst, partial_floats(n, num_heads, head_dim, decode_partitions(n, 1, max_context_len)));
  return worst * sizeof(float);
}

cudaError_t paged_decode_attention(__nv_bfloat16* out, const __nv_bfloat16* q, int64_t q_stride,
                                   const PagedKvCache& cache, const int32_t* block_tables,
                                   int64_t max_blocks_per_seq, const int32_t* context_lens,
                                   int64_t num_seqs, int64_t num_heads, float scale,
                                   int64_t max_context_len, float* workspace, size_t workspace_bytes,
                                   cudaStream_t stream) {
  const int64_t d = cache.head_dim, kvh = cache.num_kv_heads;
  if (!detail::attention_args_valid(cache, q, q_stride, num_seqs, num_heads) || max_context_len < 0 ||
      max_context_len > max_blocks_per_seq * cache.block_size)
    return cudaErrorInvalidValue;
  if (num_seqs == 0) return cudaSuccess;
  const int64_t group = num_heads / kvh;
  const int64_t m_tiles = ceil_div(group, kDecodeRows);
  const int64_t num_partitions = decode_partitions(num_seqs, kvh * m_tiles, max_context_len);
  if (num_partitions > 1 &&
      (workspace == nullptr || reinterpret_cast<uintptr_t>(workspace) % 16 != 0 ||
       workspace_bytes < partial_floats(num_seqs, num_heads, d, num_partitions) * sizeof(float)))
    return cudaErrorInvalidValue;

  AttentionTileParams p = detail::tile_params(out, q, q_stride, cache, block_tables, max_blocks_per_seq, nullptr,
                                      context_lens, num_heads, scale, m_tiles);
  p.num_partitions = static_cast<int32_t>(num_partitions);
  p.min_partition_tokens = static_cast<int32_t>(kMinPartitionTokens);
  p.partial_o = workspace;
  // Outputs first: a multiple of 16 bytes whenever the workspace start is, since D is.
  p.partial_ml = workspace ? workspace + num_seqs * num_heads * num_partitions * d : nullptr;
  switch (d) {
    case 16: return launch_decode<16>(p, num_seqs, m_tiles, stream);
    case 32: return launch_decode<32>(p, num_seqs, m_tiles, stream);
    case 64: return launch_decode<64>(p, num_seqs, m_tiles, stream);
    default: return launch_decode<128>(p, num_seqs, m_tiles, stream);
  }
}

}  // namespace troupe::cuda
