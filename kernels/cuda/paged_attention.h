#pragma once
// Decode attention over the paged KV cache on the GPU: one query token per sequence, bf16 in and
// out, fp32 softmax and accumulation. Same math and cache layout as troupe::cpu::paged_attention.
//
// Decode is a pass over the whole KV cache for a handful of FLOPs per byte, so its floor is HBM
// bandwidth. Two choices follow from that:
//  - one thread block serves every query head of a kv head (GQA), so each K/V byte is read once;
//  - long contexts are split into partitions (flash-decoding) so a batch of one still puts
//    several blocks on each of the 132 SMs; a second small kernel merges the partitions.
// The grid (the partition count) depends only on host arguments (num_seqs, the cache shape,
// max_context_len), never on device data, so a launch can be captured in a CUDA graph and replayed
// as contexts grow up to max_context_len. Each sequence spreads its own context over those
// partitions in whole 64-token tiles (at least two), so a loose bound costs little: partitions
// past a short context exit at once, and a long one still uses them all.
#include <cstddef>
#include <cstdint>

#include <cuda_bf16.h>        // __nv_bfloat16
#include <cuda_runtime_api.h> // cudaStream_t, cudaError_t

namespace troupe::cuda {

// One layer's cache. Token slot s lives in block s / block_size at offset s % block_size, as on
// the CPU, so block tables and slot mappings mean the same on both paths.
struct PagedKvCache {
  __nv_bfloat16* k;      // [num_blocks, block_size, num_kv_heads, head_dim]
  __nv_bfloat16* v;      // [num_blocks, block_size, num_kv_heads, head_dim]
  int32_t block_size;    // a positive multiple of 8
  int32_t num_kv_heads;
  int32_t head_dim;      // 16, 32, 64 or 128
};

// The head dims every kernel of the GPU attention path (RoPE + KV write, decode, prefill) is
// instantiated for: 16 and 32 serve the tiny test models, 64 and 128 the real ones.
constexpr bool cuda_attention_head_dim_supported(int64_t head_dim) {
  return head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128;
}

// Bytes of fp32 workspace paged_decode_attention needs for any call with num_seqs <= max_num_seqs,
// the same num_heads and head_dim, and max_context_len <= this max_context_len.
size_t paged_decode_workspace_bytes(int64_t max_num_seqs, int64_t num_heads, int64_t head_dim,
                                    int64_t max_context_len);

// The query of sequence s is its newest token, at position context_lens[s] - 1, whose K/V are
// already in the cache. Rows with context_lens[s] == 0 (CUDA-graph padding) get zeros and read
// nothing. max_context_len must be >= every context_lens[s] and <= max_blocks_per_seq *
// block_size. q rows must be 16-byte aligned (q_stride a multiple of 8). A split launch is two
// kernels, the merge a programmatic dependent launch of the first (fine in stream capture).
// Pass the workspace always: whether a launch splits depends on num_seqs and the bound.
// Returns cudaErrorInvalidValue for an unsupported shape or a workspace smaller than
// paged_decode_workspace_bytes asks for.
cudaError_t paged_decode_attention(__nv_bfloat16* out,            // [num_seqs, num_heads * head_dim]
                                   const __nv_bfloat16* q,        // [num_seqs, q_stride]
                                   int64_t q_stride,
                                   const PagedKvCache& cache,
                                   const int32_t* block_tables,   // [num_seqs, max_blocks_per_seq]
                                   int64_t max_blocks_per_seq,
                                   const int32_t* context_lens,   // [num_seqs]
                                   int64_t num_seqs, int64_t num_heads, float scale,
                                   int64_t max_context_len,
                                   float* workspace, size_t workspace_bytes, cudaStream_t stream);

}  // namespace troupe::cuda
