#include "kernels/cuda/prefill_attention.h"

#include <cmath>

#include "kernels/cuda/paged_attention.cuh"  // attention_tile_kernel, AttentionTileParams

namespace troupe::cuda {
namespace {

template <int D>
cudaError_t launch_prefill(const detail::AttentionTileParams& p, int64_t num_seqs, int64_t m_tiles,
                           cudaStream_t stream) {
  // Rows split across warps (kWarpsN = 1): 64 (token, head) rows a block share every K/V tile.
  using Shape = detail::TileShape<D, 1>;
  auto kernel = detail::attention_tile_kernel<D, 1>;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(Shape::kSmemBytes));
  if (err != cudaSuccess) return err;
  const dim3 grid(static_cast<unsigned>(m_tiles * p.num_kv_heads), static_cast<unsigned>(num_seqs));
  return launch_pdl(kernel, grid, dim3(detail::kTileThreads), Shape::kSmemBytes, stream, p);
}

}  // namespace

cudaError_t paged_prefill_attention(__nv_bfloat16* out, const __nv_bfloat16* q, int64_t q_stride,
                                    const PagedKvCache& cache, const int32_t* block_tables,
                                    int64_t max_blocks_per_seq, const int32_t* query_start,
                                    const int32_t* context_lens, int64_t num_seqs,
                                    int64_t num_heads, float scale, int64_t max_q_len,
                                    cudaStream_t stream) {
  const int64_t d = cache.head_dim, kvh = cache.num_kv_heads;
  if (!detail::attention_args_valid(cache, q, q_stride, num_seqs, num_heads) || max_q_len < 0)
    return cudaErrorInvalidValue;
  const int64_t group = num_heads / kvh;
  const int64_t m_tiles = (max_q_len * group + detail::TileShape<64, 1>::kRows - 1) /
                          detail::TileShape<64, 1>::kRows;
  if (num_seqs == 0 || m_tiles == 0) return cudaSuccess;
  if (m_tiles * kvh > 0x7fffffff) return cudaErrorInvalidValue;

  detail::AttentionTileParams p = detail::tile_params(out, q, q_stride, cache, block_tables, max_blocks_per_seq,
                                                      query_start, context_lens, num_heads, scale, m_tiles);
  // One partition spanning the context: every row tile sees all of its keys and writes bf16.
  p.num_partitions = 1;
  p.min_partition_tokens = detail::kTileTokens;
  switch (d) {
    case 16: return launch_prefill<16>(p, num_seqs, m_tiles, stream);
    case 32: return launch_prefill<32>(p, num_seqs, m_tiles, stream);
    case 64: return launch_prefill<64>(p, num_seqs, m_tiles, stream);
    default: return launch_prefill<128>(p, num_seqs, m_tiles, stream);
  }
}

}  // namespace troupe::cuda
