#pragma once
// Prefill (and mixed-batch) attention over the paged KV cache on the GPU: causal, flash-style
// (online softmax over K/V tiles in shared memory, bf16 tensor-core products with fp32
// accumulation), for all sequences of a step in one launch. Same semantics as
// troupe::cpu::paged_attention: query i of a sequence with q_len queries and context_len cached
// tokens sits at position context_len - q_len + i and sees keys 0..that position, which covers a
// whole prompt, one chunk of it after earlier chunks or prefix-cached blocks, and q_len == 1.
//
// Prefill is bound by tensor-core FLOPs, not bytes: a tile of 64 (query token, head) rows shares
// each K/V tile, and GQA heads of one kv head are packed into the same tile's rows so K/V is read
// once per kv head. Decode-only steps should use paged_decode_attention, which also splits long
// contexts across blocks.
#include <cstdint>

#include <cuda_bf16.h>        // __nv_bfloat16
#include <cuda_runtime_api.h> // cudaStream_t, cudaError_t

#include "kernels/cuda/paged_attention.h"  // PagedKvCache

namespace troupe::cuda {

// K/V of every query token must already be in the cache. max_q_len must be >= every sequence's
// q_len (it sizes the grid). q rows must be 16-byte aligned (q_stride a multiple of 8). head_dim
// 16, 32, 64 or 128; anything else returns cudaErrorInvalidValue.
cudaError_t paged_prefill_attention(__nv_bfloat16* out,           // [n_tokens, num_heads * head_dim]
                                    const __nv_bfloat16* q,       // [n_tokens, q_stride]
                                    int64_t q_stride,
                                    const PagedKvCache& cache,
                                    const int32_t* block_tables,  // [num_seqs, max_blocks_per_seq]
                                    int64_t max_blocks_per_seq,
                                    const int32_t* query_start,   // [num_seqs + 1], query_start[0] = 0
                                    const int32_t* context_lens,  // [num_seqs]
                                    int64_t num_seqs, int64_t num_heads, float scale,
                                    int64_t max_q_len, cudaStream_t stream);

}  // namespace troupe::cuda
