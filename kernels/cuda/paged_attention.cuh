#pragma once
// The attention tile kernel behind paged_decode_attention and paged_prefill_attention.
//
// A thread block owns (sequence, kv head, row tile, key partition). Its rows are (query token,
// query head) pairs, row R = token R / group, head R % group of the kv head: the query heads that
// share a kv head sit in one tile, so each K/V byte fetched serves all of them (GQA), and a decode
// step (one token) still fills a 16-row tensor-core tile when group >= 2.
// K/V tiles of 64 tokens are gathered through the block table with 16-byte cp.async into shared
// memory, two stages deep, so the next tile's loads are in flight during this tile's math.
// Scores and P*V use mma.sync m16n8k16 bf16 with fp32 accumulation; softmax is online in base 2.
// Warps split rows (prefill, kWarpsN = 1: 4 warps x 16 rows, every warp sees every key) or keys
// (decode, kWarpsN = 4: one 16-row tile, each warp a quarter of each K/V tile); the warps'
// (max, sum, acc) states are merged through shared memory at the end either way.
// Invariants: head_dim D is 16, 32, 64 or 128; partitions are whole 64-token tiles; rows whose token is
// past q_len are computed on zero queries and never written.
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/cuda/mma_ptx.cuh"  // cp_async_*, ldmatrix_x4*, mma_bf16, pack_bf16x2, quad_*
#include "kernels/cuda/pdl.cuh"

namespace troupe::cuda::detail {

struct AttentionTileParams {
  __nv_bfloat16* out;            // [n_tokens, out_stride]
  int64_t out_stride;
  const __nv_bfloat16* q;        // [n_tokens, q_stride]
  int64_t q_stride;
  const __nv_bfloat16* k_cache;  // [num_blocks, block_size, num_kv_heads, D]
  const __nv_bfloat16* v_cache;
  const int32_t* block_tables;   // [num_seqs, max_blocks_per_seq]
  int64_t max_blocks_per_seq;
  const int32_t* query_start;    // [num_seqs + 1]; nullptr: one query per sequence, row = seq
  const int32_t* context_lens;   // [num_seqs]
  int32_t block_size, num_kv_heads, group, num_heads;
  float scale_log2;              // softmax scale * log2(e)
  int32_t m_tiles;               // row tiles per (sequence, kv head), from the host's max q_len
  int32_t num_partitions;        // key partitions per row tile; 1: no split, output written here
  int32_t min_partition_tokens;  // a multiple of kTileTokens
  float* partial_o;              // [num_seqs, num_heads, num_partitions, D]; unused if 1 partition
  float* partial_ml;             // [num_seqs, num_heads, num_partitions, 2]: running max, sum
};

// The checks both entry points make of the arguments they share (header: "Returns
// cudaErrorInvalidValue for an unsupported shape").
inline bool attention_args_valid(const PagedKvCache& cache, const __nv_bfloat16* q, int64_t q_stride,
                                 int64_t num_seqs, int64_t num_heads) {
  const int64_t kvh = cache.num_kv_heads;
  return cuda_attention_head_dim_supported(cache.head_dim) && kvh > 0 && kvh <= 65535 && num_heads > 0 &&
         num_heads % kvh == 0 && cache.block_size > 0 && cache.block_size % 8 == 0 && q_stride % 8 == 0 &&
         reinterpret_cast<uintptr_t>(q) % 16 == 0 && num_seqs >= 0 && num_seqs <= 65535;
}

// The fields decode and prefill fill alike; each sets its partitioning after.
inline AttentionTileParams tile_params(__nv_bfloat16* out, const __nv_bfloat16* q, int64_t q_stride,
                                       const PagedKvCache& cache, const int32_t* block_tables,
                                       int64_t max_blocks_per_seq, const int32_t* query_start,
                                       const int32_t* context_lens, int64_t num_heads, float scale,
                                       int64_t m_tiles) {
  AttentionTileParams p{};
  p.out = out;
  p.out_stride = num_heads * cache.head_dim;
  p.q = q;
  p.q_stride = q_stride;
  p.k_cache = cache.k;
  p.v_cache = cache.v;
  p.block_tables = block_tables;
  p.max_blocks_per_seq = max_blocks_per_seq;
  p.query_start = query_start;
  p.context_lens = context_lens;
  p.block_size = cache.block_size;
  p.num_kv_heads = cache.num_kv_heads;
  p.group = static_cast<int32_t>(num_heads / cache.num_kv_heads);
  p.num_heads = static_cast<int32_t>(num_heads);
  p.scale_log2 = scale * static_cast<float>(M_LOG2E);
  p.m_tiles = static_cast<int32_t>(m_tiles);
  return p;
}

constexpr int kTileThreads = 128;
constexpr int kTileTokens = 64;
constexpr int kStages = 2;

// Keys per partition of a sequence: its own context spread over the launch's fixed partition
// count, in whole tiles. Sized from the device-side length, so a launch captured with a loose
// max_context_len still splits a long context across every partition, and a short one exits in
// the partitions it does not reach.
__device__ __forceinline__ int partition_tokens(int context_len, int num_partitions, int min_tokens) {
  const int per = (context_len + num_partitions - 1) / num_partitions;
  return max(min_tokens, (per + kTileTokens - 1) / kTileTokens * kTileTokens);
}

template <int D, int kWarpsN>
struct TileShape {
  // k-steps of 16 over D (Q*K^T) and 16-column ldmatrix_x4 steps over D (P*V) need D % 16 == 0;
  // D = 16 is a single step of each, and its 16-byte row chunks (2 a row) still divide the block.
  static_assert(D % 16 == 0 && D >= 16 && D <= 128, "head_dim 16, 32, 64 or 128");
  static constexpr int kWarpsM = 4 / kWarpsN;
  static constexpr int kRows = 16 * kWarpsM;
  // Prefill's 64-row Q tile (17 KB at D = 128) is staged in the second K/V stage, which is free
  // until the loop's first prefetch: 68 KB a block, so three blocks fit an SM. Decode keeps its
  // small Q tile apart so its first two K/V tiles load together.
  static constexpr bool kQInStage = kWarpsN == 1;
  // Blocks an SM holds: caps registers at 168. Prefill then spills ~100 bytes a thread at D = 128
  // and still ran 2048-8192-token prompts 2-8% faster on an H100 than at 2 blocks (215 registers).
  static constexpr int kMinBlocks = 3;
  static constexpr int kWarpTokens = kTileTokens / kWarpsN;
  // +16 bytes a row: the 8 rows of an ldmatrix land in distinct banks for every D here
  // (row pitch 48, 80, 144 or 272 bytes); the pitch stays a multiple of 16 for cp.async/ldmatrix.
  static constexpr int kStride = D + 8;
  // fp32 merge rows: float2 stores of 4 rows conflict-free (pitch 24, 40, 72 or 136 words), and a
  // multiple of 4 words so the float4 reads stay aligned.
  static constexpr int kOStride = D + 8;
  static constexpr size_t kKvBytes = size_t{kStages} * 2 * kTileTokens * kStride * 2;
  static constexpr size_t kMergeBytes = size_t{kWarpsN} * kRows * (kOStride + 2) * 4;
  static_assert(kMergeBytes <= kKvBytes, "merge buffer reuses the K/V stages");
  static_assert(!kQInStage || kRows <= kTileTokens, "Q fits one K buffer");
  static constexpr size_t kSmemBytes = (kQInStage ? 0 : size_t{kRows} * kStride * 2) + kKvBytes;
};

// Gathers keys/values [first, first + kTileTokens) of one kv head into a stage; tokens at or past
// end are zero-filled and read nothing.
template <int D, int kStride>
__device__ __forceinline__ void load_kv_tile(__nv_bfloat16* sk, __nv_bfloat16* sv,
                                             const AttentionTileParams& p, const int32_t* table,
                                             int kv_head, int first, int end) {
  constexpr int kChunks = D / 8;
  constexpr int kTokensPerPass = kTileThreads / kChunks;
  static_assert(kTileThreads % kChunks == 0 && kTileTokens % kTokensPerPass == 0,
                "whole tokens a pass, whole passes a tile");
  const int chunk = threadIdx.x % kChunks;
  const int64_t kv_row = static_cast<int64_t>(p.num_kv_heads) * D;
#pragma unroll
  for (int pass = 0; pass < kTileTokens / kTokensPerPass; ++pass) {
    const int t = threadIdx.x / kChunks + pass * kTokensPerPass;
    const int j = first + t;
    const bool valid = j < end;
    int64_t off = 0;
    if (valid) {
      const int64_t slot = static_cast<int64_t>(table[j / p.block_size]) * p.block_size + j % p.block_size;
      off = slot * kv_row + kv_head * D + chunk * 8;
    }
    cp_async_16(sk + t * kStride + chunk * 8, p.k_cache + off, valid);
    cp_async_16(sv + t * kStride + chunk * 8, p.v_cache + off, valid);
  }
}

template <int D, int kWarpsN>
__global__ void __launch_bounds__(kTileThreads, TileShape<D, kWarpsN>::kMinBlocks)
attention_tile_kernel(const AttentionTileParams p) {
  using S = TileShape<D, kWarpsN>;
  constexpr int kRows = S::kRows, kStride = S::kStride, kWarpTokens = S::kWarpTokens;
  constexpr int kKvStage = 2 * kTileTokens * kStride;
  extern __shared__ __align__(16) unsigned char smem[];
  // [kStages][K, V][kTileTokens][kStride], then Q [kRows][kStride] unless it sits in stage 1
  __nv_bfloat16* skv = reinterpret_cast<__nv_bfloat16*>(smem);
  __nv_bfloat16* sq = S::kQInStage ? skv + kKvStage : skv + kStages * kKvStage;

  // Launched after RoPE's KV write (pdl.cuh); then lets the next kernel (the partition merge or
  // the o projection) be scheduled, which still waits for this grid's completion.
  pdl_wait();
  pdl_launch_dependents();
  // blockIdx.x = (reversed row tile, partition, kv head), kv head fastest: the last row tiles see
  // the most keys under the causal mask, so they start first and the short ones fill the tail.
  const int seq = blockIdx.y, kv_head = blockIdx.x % p.num_kv_heads;
  const int rest = blockIdx.x / p.num_kv_heads;
  const int part = rest % p.num_partitions, m_tile = p.m_tiles - 1 - rest / p.num_partitions;
  const int q_begin = p.query_start ? p.query_start[seq] : seq;
  const int q_len = p.query_start ? p.query_start[seq + 1] - q_begin : 1;
  const int row0 = m_tile * kRows;
  if (row0 >= q_len * p.group) return;
  const int ctx = p.context_lens[seq];
  const int first_pos = ctx - q_len;  // position of query 0
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;

  // Output row r of this tile, or nullptr when its token is past q_len.
  auto out_row = [&](int r) -> __nv_bfloat16* {
    const int R = row0 + r, i = R / p.group;
    if (i >= q_len) return nullptr;
    return p.out + static_cast<int64_t>(q_begin + i) * p.out_stride + (kv_head * p.group + R % p.group) * D;
  };
  if (ctx <= 0) {  // padding row of a graph batch: zeros, and nothing else is read
    if (part != 0) return;
    for (int item = tid; item < kRows * (D / 8); item += kTileThreads)
      if (__nv_bfloat16* o = out_row(item / (D / 8)))
        *reinterpret_cast<uint4*>(o + item % (D / 8) * 8) = make_uint4(0, 0, 0, 0);
    return;
  }
  const int last_token = min(q_len - 1, (row0 + kRows - 1) / p.group);
  const int part_tokens = partition_tokens(ctx, p.num_partitions, p.min_partition_tokens);
  const int kv_begin = part * part_tokens;
  const int kv_end = min(first_pos + last_token + 1, kv_begin + part_tokens);
  if (kv_begin >= kv_end) return;  // partition past this sequence's context
  const int n_active = (ctx + part_tokens - 1) / part_tokens;
  const int32_t* table = p.block_tables + seq * p.max_blocks_per_seq;

  for (int item = tid; item < kRows * (D / 8); item += kTileThreads) {
    const int r = item / (D / 8), c = item % (D / 8), R = row0 + r, i = R / p.group;
    const bool valid = i < q_len;
    const __nv_bfloat16* src = valid ? p.q + static_cast<int64_t>(q_begin + i) * p.q_stride +
                                           (kv_head * p.group + R % p.group) * D + c * 8
                                     : p.q;
    cp_async_16(sq + r * kStride + c * 8, src, valid);
  }
  load_kv_tile<D, kStride>(skv, skv + kTileTokens * kStride, p, table, kv_head, kv_begin, kv_end);
  cp_async_commit();

  const int wm = warp % S::kWarpsM, wn = warp / S::kWarpsM;
  const int warp_row0 = wm * 16;
  // Causal limits (last visible key position) of this thread's two rows and of the warp's rows.
  const int row_a = warp_row0 + lane / 4, row_b = row_a + 8;
  const int lim_a = first_pos + (row0 + row_a) / p.group, lim_b = first_pos + (row0 + row_b) / p.group;
  const int warp_first_token = (row0 + warp_row0) / p.group;
  const int warp_lim_lo = first_pos + warp_first_token;
  const int warp_lim_hi = first_pos + min(q_len - 1, (row0 + warp_row0 + 15) / p.group);
  const bool warp_has_rows = warp_first_token < q_len;

  float m_a = -INFINITY, m_b = -INFINITY, l_a = 0.0f, l_b = 0.0f;
  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  uint32_t qa[D / 16][4];
  auto load_q_fragments = [&] {
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks)
      ldmatrix_x4(qa[ks], sq + (warp_row0 + lane % 8 + 8 * ((lane / 8) % 2)) * kStride + ks * 16 + 8 * (lane / 16));
  };
  if constexpr (S::kQInStage) {  // stage 1 must hold Q until every warp has its fragments
    cp_async_wait<0>();
    __syncthreads();
    load_q_fragments();
    __syncthreads();
  }

  const int n_tiles = (kv_end - kv_begin + kTileTokens - 1) / kTileTokens;
  for (int t = 0; t < n_tiles; ++t) {
    if (t + 1 < n_tiles) {
      __nv_bfloat16* next = skv + ((t + 1) % kStages) * kKvStage;
      load_kv_tile<D, kStride>(next, next + kTileTokens * kStride, p, table, kv_head,
                               kv_begin + (t + 1) * kTileTokens, kv_end);
    }
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    if (!S::kQInStage && t == 0) load_q_fragments();
    const int j0 = kv_begin + t * kTileTokens + wn * kWarpTokens;  // this warp's first key
    if (warp_has_rows && j0 <= warp_lim_hi && j0 < kv_end) {
      const __nv_bfloat16* sk = skv + (t % kStages) * kKvStage + wn * kWarpTokens * kStride;
      const __nv_bfloat16* sv = sk + kTileTokens * kStride;
      float s[kWarpTokens / 8][4];
#pragma unroll
      for (int n = 0; n < kWarpTokens / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
      for (int ks = 0; ks < D / 16; ++ks) {
#pragma unroll
        for (int n2 = 0; n2 < kWarpTokens / 16; ++n2) {
          uint32_t b[4];
          ldmatrix_x4(b, sk + (n2 * 16 + lane % 8 + 8 * (lane / 16)) * kStride + ks * 16 + 8 * ((lane / 8) % 2));
          mma_bf16(s[2 * n2], qa[ks], b[0], b[1]);
          mma_bf16(s[2 * n2 + 1], qa[ks], b[2], b[3]);
        }
      }
      const bool needs_mask = j0 + kWarpTokens > kv_end || j0 + kWarpTokens - 1 > warp_lim_lo;
      float mx_a = -INFINITY, mx_b = -INFINITY;
#pragma unroll
      for (int n = 0; n < kWarpTokens / 8; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float x = s[n][e] * p.scale_log2;
          if (needs_mask) {
            const int j = j0 + n * 8 + 2 * (lane % 4) + (e & 1);
            if (j >= kv_end || j > (e < 2 ? lim_a : lim_b)) x = -INFINITY;
          }
          s[n][e] = x;
        }
        mx_a = fmaxf(mx_a, fmaxf(s[n][0], s[n][1]));
        mx_b = fmaxf(mx_b, fmaxf(s[n][2], s[n][3]));
      }
      const float new_a = fmaxf(m_a, quad_max(mx_a)), new_b = fmaxf(m_b, quad_max(mx_b));
      // A row with every key masked so far keeps max -inf; subtracting 0 instead avoids inf - inf.
      const float base_a = new_a == -INFINITY ? 0.0f : new_a, base_b = new_b == -INFINITY ? 0.0f : new_b;
      const float corr_a = exp2f(m_a - base_a), corr_b = exp2f(m_b - base_b);
      m_a = new_a;
      m_b = new_b;
      float sum_a = 0.0f, sum_b = 0.0f;
#pragma unroll
      for (int n = 0; n < kWarpTokens / 8; ++n) {
        s[n][0] = exp2f(s[n][0] - base_a);
        s[n][1] = exp2f(s[n][1] - base_a);
        s[n][2] = exp2f(s[n][2] - base_b);
        s[n][3] = exp2f(s[n][3] - base_b);
        sum_a += s[n][0] + s[n][1];
        sum_b += s[n][2] + s[n][3];
      }
      l_a = l_a * corr_a + sum_a;  // per-thread partial; the quad's lanes are summed at the end
      l_b = l_b * corr_b + sum_b;
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        o[n][0] *= corr_a;
        o[n][1] *= corr_a;
        o[n][2] *= corr_b;
        o[n][3] *= corr_b;
      }
      // The score accumulator's layout is the A-operand layout of the next product (16 keys a step).
#pragma unroll
      for (int kk = 0; kk < kWarpTokens / 16; ++kk) {
        const uint32_t pa[4] = {pack_bf16x2(s[2 * kk][0], s[2 * kk][1]), pack_bf16x2(s[2 * kk][2], s[2 * kk][3]),
                                pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
        for (int d2 = 0; d2 < D / 16; ++d2) {
          uint32_t b[4];
          ldmatrix_x4_trans(b, sv + (kk * 16 + lane % 8 + 8 * ((lane / 8) % 2)) * kStride + d2 * 16 + 8 * (lane / 16));
          mma_bf16(o[2 * d2], pa, b[0], b[1]);
          mma_bf16(o[2 * d2 + 1], pa, b[2], b[3]);
        }
      }
    }
    __syncthreads();  // the stage just read is the one refilled next iteration
  }

  // Merge the kWarpsN states of each row: sm_o [kWarpsN][kRows][kOStride], then max and sum.
  float* sm_o = reinterpret_cast<float*>(skv);
  float* sm_m = sm_o + kWarpsN * kRows * S::kOStride;
  float* sm_l = sm_m + kWarpsN * kRows;
  l_a = quad_sum(l_a);
  l_b = quad_sum(l_b);
#pragma unroll
  for (int n = 0; n < D / 8; ++n) {
    const int col = n * 8 + 2 * (lane % 4);
    *reinterpret_cast<float2*>(sm_o + (wn * kRows + row_a) * S::kOStride + col) = make_float2(o[n][0], o[n][1]);
    *reinterpret_cast<float2*>(sm_o + (wn * kRows + row_b) * S::kOStride + col) = make_float2(o[n][2], o[n][3]);
  }
  if (lane % 4 == 0) {
    sm_m[wn * kRows + row_a] = m_a;
    sm_l[wn * kRows + row_a] = l_a;
    sm_m[wn * kRows + row_b] = m_b;
    sm_l[wn * kRows + row_b] = l_b;
  }
  __syncthreads();
  const bool direct = n_active <= 1;
  for (int item = tid; item < kRows * (D / 8); item += kTileThreads) {
    const int r = item / (D / 8), c = item % (D / 8);
    __nv_bfloat16* orow = out_row(r);
    if (!orow) continue;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarpsN; ++w) mx = fmaxf(mx, sm_m[w * kRows + r]);
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, sum = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarpsN; ++w) {
      const float wt = sm_m[w * kRows + r] == -INFINITY ? 0.0f : exp2f(sm_m[w * kRows + r] - mx);
      sum += wt * sm_l[w * kRows + r];
      const float4* src = reinterpret_cast<const float4*>(sm_o + (w * kRows + r) * S::kOStride + c * 8);
      const float4 x0 = src[0], x1 = src[1];
      acc[0] += wt * x0.x, acc[1] += wt * x0.y, acc[2] += wt * x0.z, acc[3] += wt * x0.w;
      acc[4] += wt * x1.x, acc[5] += wt * x1.y, acc[6] += wt * x1.z, acc[7] += wt * x1.w;
    }
    const float inv = 1.0f / sum;
    if (direct) {
      uint4 packed;
      packed.x = pack_bf16x2(acc[0] * inv, acc[1] * inv);
      packed.y = pack_bf16x2(acc[2] * inv, acc[3] * inv);
      packed.z = pack_bf16x2(acc[4] * inv, acc[5] * inv);
      packed.w = pack_bf16x2(acc[6] * inv, acc[7] * inv);
      *reinterpret_cast<uint4*>(orow + c * 8) = packed;
    } else {
      const int head = kv_head * p.group + (row0 + r) % p.group;
      const int64_t idx = (static_cast<int64_t>(seq) * p.num_heads + head) * p.num_partitions + part;
      float4* dst = reinterpret_cast<float4*>(p.partial_o + idx * D + c * 8);
      dst[0] = make_float4(acc[0] * inv, acc[1] * inv, acc[2] * inv, acc[3] * inv);
      dst[1] = make_float4(acc[4] * inv, acc[5] * inv, acc[6] * inv, acc[7] * inv);
      if (c == 0) *reinterpret_cast<float2*>(p.partial_ml + idx * 2) = make_float2(mx, sum);
    }
  }
}

}  // namespace troupe::cuda::detail
