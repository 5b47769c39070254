// GPU sampling, one thread block per row. Matching engine/sampling/sample_token token for token is
// the point, so this file is built without --use_fast_math (IEEE division, no FMA contraction:
// see kernels/cuda/CMakeLists.txt) and repeats the CPU's arithmetic operation by operation:
//   logit_bias and penalties in fp32 as the CPU writes them; z = float(x / T);
//   w = exp(double(z) - double(z_max));
//   top-p keeps the shortest prefix whose mass reaches top_p; min-p keeps w / total >= min_p / total;
//   the draw takes the first candidate whose running mass exceeds u * kept mass.
// The only freedom taken is how masses are summed (exact fixed point per bin, fp64 across bins and
// within the last bin, instead of one sequential fp64 loop): ~1e-16 relative, so a draw can differ
// from the CPU only when u * kept lies that close to a running sum. Among equal logits the CPU's
// std::sort order is unspecified; here the lower index comes first. Sums are order-independent,
// so the same inputs give the same token on every run.
//
// Cost. Per row (vocab V): one read for the max (+1 for top logprobs, +1 after penalties or logit
// adjustments, which themselves touch only their listed entries), then per filter a histogram read
// and usually one gather read, with one fp64 exp per candidate in a mass walk. A block (16 warps,
// the SM's only one at 110 registers) reads a row alone, so passes are bound by latency, not HBM:
// a load pass costs ~20 us for 0.5 MB, and ncu's top stalls in a walk are 'wait' and 'short
// scoreboard' (dependent fp64 math). Measured on an H100, vocab 128256,
// median of 50 launches, 1 / 64 / 256 rows: greedy 25 / 25 / 60 us, T=1 145 / 175 / 381 us,
// T=0.7 top-p 0.9 182 / 187 / 497 us (one read of 256 rows from HBM: 39 us). Splitting a row over
// several blocks would cut the small-batch latency: the next step if sampling shows in step time.
#include "kernels/cuda/sampling.h"

#include <algorithm>  // std::max

#include <cub/device/device_segmented_radix_sort.cuh>  // per-row sort of output ids (repeat counts)

#include "kernels/common/sampler_rng.h"  // SamplerRng: the CPU's uniform for (seed, output_index)
#include "kernels/cuda/sampling_block.cuh"   // SelectShared, block_row_stats, block_mass, Filter, Weigher
#include "kernels/cuda/sampling_select.cuh"  // block_select and its Goal

namespace troupe::cuda {
namespace {

using namespace sampling_detail;

struct KernelArgs {
  int32_t* tokens;                  // [rows]
  float* logits;                    // [rows, vocab]
  const RowSamplingParams* params;  // [rows]
  const int32_t* ids;               // [num_ids] or nullptr
  const int32_t* row_begin;         // [rows + 1]
  const int32_t* output_begin;      // [rows]
  const int32_t* sorted_ids;        // [num_ids]: each row's output segment sorted
  float* saved_raw;                 // [num_ids]: logit under ids[j] before penalties
  const int32_t* adjust_ids;        // [num_entries] or nullptr
  const float* adjust_bias;         // [num_entries]
  const int32_t* adjust_begin;      // [rows + 1]
  const int32_t* ban_begin;         // [rows]
  float* adjust_raw;                // [num_entries]: raw logit under adjust_ids[j]
  float* chosen_logprob;            // [rows] or nullptr
  int32_t* top_ids;                 // [rows, num_top] or nullptr
  float* top_logprobs;              // [rows, num_top] or nullptr
  int32_t num_top;
  int32_t vocab;
};

// Count mode bins start this far below the max; beyond it only very large top-k look.
constexpr float kCountSpan = 64.0f;
// Mass mode bins start this many temperatures below the max: exp(-64) is below fp64's resolution
// of any total (>= 1, the max's own weight), so nothing the walk can stop on lives further down.
constexpr float kMassSpan = 64.0f;

__device__ __forceinline__ bool valid_id(int32_t id, int32_t vocab) { return id >= 0 && id < vocab; }

// logit_bias, then the banned ids to -inf, exactly in the CPU's fp32 operations (the bans after a
// barrier, so an id both biased and banned ends at -inf as there). Keeps the raw logit under every
// entry first, for chosen_logprob. Biased ids are unique within a row, so the adds do not race.
__device__ void block_apply_adjustments(float* row, int32_t vocab, const KernelArgs& a, int32_t begin,
                                        int32_t ban, int32_t end) {
  const int32_t t = threadIdx.x;
  for (int32_t j = begin + t; j < end; j += kThreads) {
    const int32_t id = a.adjust_ids[j];
    a.adjust_raw[j] = valid_id(id, vocab) ? row[id] : 0.0f;
  }
  __syncthreads();
  for (int32_t j = begin + t; j < ban; j += kThreads) {
    const int32_t id = a.adjust_ids[j];
    if (valid_id(id, vocab)) row[id] = __fadd_rn(a.adjust_raw[j], a.adjust_bias[j]);
  }
  __syncthreads();
  for (int32_t j = ban + t; j < end; j += kThreads) {
    const int32_t id = a.adjust_ids[j];
    if (valid_id(id, vocab)) row[id] = -INFINITY;
  }
  __syncthreads();
}

// The lowest j in [begin, end) with ids[j] == token, or INT32_MAX.
__device__ int32_t block_find(SelectShared& sh, const int32_t* ids, int32_t begin, int32_t end, int32_t token) {
  if (threadIdx.x == 0) sh.hit = INT32_MAX;
  __syncthreads();
  for (int32_t j = begin + threadIdx.x; j < end; j += kThreads)
    if (ids[j] == token) atomicMin(&sh.hit, j);
  __syncthreads();
  const int32_t hit = sh.hit;
  __syncthreads();
  return hit;
}

// Repetition over prompt + output (each distinct id once, CTRL's sign rule), then presence and
// frequency over output, exactly in the CPU's fp32 operations. Keeps the raw logit under every
// listed id first, for chosen_logprob.
__device__ void block_apply_penalties(float* row, int32_t vocab, const RowSamplingParams& p,
                                      const KernelArgs& a, int32_t begin, int32_t out_begin,
                                      int32_t end, uint32_t* seen_bits) {
  const int32_t t = threadIdx.x;
  for (int32_t j = begin + t; j < end; j += kThreads) {
    const int32_t id = a.ids[j];
    a.saved_raw[j] = valid_id(id, vocab) ? row[id] : 0.0f;
  }
  __syncthreads();
  if (p.repetition_penalty != 1.0f) {
    for (int32_t w = t; w < (vocab + 31) / 32; w += kThreads) seen_bits[w] = 0;
    __syncthreads();
    for (int32_t j = begin + t; j < end; j += kThreads) {
      const int32_t id = a.ids[j];
      if (!valid_id(id, vocab)) continue;
      const uint32_t bit = 1u << (id & 31);
      if (atomicOr(&seen_bits[id >> 5], bit) & bit) continue;  // another occurrence owns it
      const float x = a.saved_raw[j];
      row[id] = x > 0.0f ? __fdiv_rn(x, p.repetition_penalty) : __fmul_rn(x, p.repetition_penalty);
    }
    __syncthreads();
  }
  if (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    // Sorted ids put each id's occurrences in one run; its first element applies the count.
    const int32_t* s = a.sorted_ids;
    for (int32_t j = out_begin + t; j < end; j += kThreads) {
      const int32_t id = s[j];
      if (!valid_id(id, vocab) || (j > out_begin && s[j - 1] == id)) continue;
      int32_t run = 1;
      while (j + run < end && s[j + run] == id) ++run;
      const float cut =
          __fadd_rn(__fmul_rn(p.frequency_penalty, static_cast<float>(run)), p.presence_penalty);
      row[id] = __fsub_rn(row[id], cut);
    }
    __syncthreads();
  }
}

// The num_top largest raw logits, best first, with log-probabilities x - logsumexp.
__device__ void block_top_logprobs(SelectShared& sh, const float* row, int32_t n, const RowStats& raw,
                                   float lse, const KernelArgs& a, int32_t r) {
  const uint32_t t = threadIdx.x;
  const Weigher unused{1.0f, 0.0};
  const Cut last = block_select(sh, row, n, raw, Filter{}, unused, Goal::kCount, a.num_top,
                                raw.max - kCountSpan).cut;
  if (t == 0) sh.list_size = 0;
  __syncthreads();
  for_each_logit(row, n, [&](int32_t i, float x) {
    const uint32_t k = order_key(x);
    if (!kept_by(last, k, i)) return;
    const uint32_t pos = atomicAdd(&sh.list_size, 1u);
    if (pos < kCap) sh.sorted[pos] = (static_cast<uint64_t>(~k) << 32) | static_cast<uint32_t>(i);
  });
  __syncthreads();
  const uint32_t size = min(sh.list_size, static_cast<uint32_t>(a.num_top));
  if (t < size) {
    const uint64_t e = sh.sorted[t];
    uint32_t rank = 0;
    for (uint32_t o = 0; o < size; ++o) rank += sh.sorted[o] < e;
    const int32_t i = static_cast<int32_t>(e & 0xffffffffu);
    a.top_ids[static_cast<int64_t>(r) * a.num_top + rank] = i;
    a.top_logprobs[static_cast<int64_t>(r) * a.num_top + rank] = row[i] - lse;
  }
  __syncthreads();
}

__device__ int32_t block_draw(SelectShared& sh, const float* row, int32_t n, const RowStats& st,
                              const RowSamplingParams& p) {
  const Weigher wg{p.temperature, static_cast<double>(__fdiv_rn(st.max, p.temperature))};
  const float mass_floor = st.max - kMassSpan * p.temperature;
  Filter f;
  if (p.top_k > 0 && p.top_k < n)
    f.top_k = block_select(sh, row, n, st, f, wg, Goal::kCount, p.top_k, st.max - kCountSpan).cut;
  double total = 0.0;
  if (p.top_p < 1.0f) {
    const Selected s = block_select(sh, row, n, st, f, wg, Goal::kMassReaches, p.top_p, mass_floor);
    f.top_p = s.cut;
    total = s.total_mass;
  } else if (p.min_p > 0.0f) {
    total = block_mass(sh, row, n, f, wg);
  }
  if (p.min_p > 0.0f) {
    f.total = total;
    f.min_p_floor = static_cast<double>(p.min_p) * (1.0 / total);  // min_p * p(first), p(first) = 1 / total
  }
  SamplerRng rng(p.seed, p.output_index);
  return block_select(sh, row, n, st, f, wg, Goal::kMassExceeds, rng.uniform(), mass_floor).cut.index;
}

__global__ void __launch_bounds__(kThreads, 1) sample_tokens_kernel(const KernelArgs a) {
  extern __shared__ uint32_t seen_bits[];  // [ceil(vocab / 32)] when any row has penalty ids
  __shared__ SelectShared sh;
  const int32_t r = blockIdx.x;
  const int32_t n = a.vocab;
  float* row = a.logits + static_cast<int64_t>(r) * n;
  const RowSamplingParams p = a.params[r];

  const bool want_lse = a.chosen_logprob != nullptr || a.num_top > 0;
  const RowStats raw = block_row_stats(sh, row, n, want_lse);
  const float lse = raw.max + logf(raw.sum_exp);
  if (a.num_top > 0) block_top_logprobs(sh, row, n, raw, lse, a, r);

  int32_t adjust_begin = 0, ban = 0, adjust_end = 0;
  if (a.adjust_ids != nullptr) {
    adjust_begin = a.adjust_begin[r];
    ban = a.ban_begin[r];
    adjust_end = a.adjust_begin[r + 1];
  }
  const bool adjusted = adjust_end > adjust_begin;
  if (adjusted) block_apply_adjustments(row, n, a, adjust_begin, ban, adjust_end);

  int32_t begin = 0, out_begin = 0, end = 0;
  if (a.ids != nullptr) {
    begin = a.row_begin[r];
    out_begin = a.output_begin[r];
    end = a.row_begin[r + 1];
  }
  const bool penalized = end > begin && (p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f ||
                                         p.frequency_penalty != 0.0f);
  RowStats st = raw;
  if (penalized) block_apply_penalties(row, n, p, a, begin, out_begin, end, seen_bits);
  if (adjusted || penalized) st = block_row_stats(sh, row, n, false);
  const int32_t token = p.temperature <= 0.0f ? st.argmax : block_draw(sh, row, n, st, p);
  if (threadIdx.x == 0) a.tokens[r] = token;

  if (a.chosen_logprob != nullptr) {
    // The chosen token's raw logit: saved before the adjustments if they listed it, else before
    // the penalties (which came after the adjustments, so saw it raw) if those did, else untouched.
    const int32_t adj = adjusted ? block_find(sh, a.adjust_ids, adjust_begin, adjust_end, token) : INT32_MAX;
    const int32_t pen = adj == INT32_MAX && penalized ? block_find(sh, a.ids, begin, end, token) : INT32_MAX;
    if (threadIdx.x == 0) {
      const float x = adj != INT32_MAX ? a.adjust_raw[adj] : pen != INT32_MAX ? a.saved_raw[pen] : row[token];
      a.chosen_logprob[r] = x - lse;
    }
  }
}

struct Workspace {
  size_t adjust_raw = 0, saved_raw = 0, sorted = 0, sort_temp = 0;  // byte offsets
  size_t sort_temp_bytes = 0;
  size_t total = 0;
};

size_t align_up(size_t x) { return (x + 255) / 256 * 256; }

Workspace workspace_layout(int64_t rows, int64_t num_ids, int64_t num_adjust, cudaError_t* err) {
  Workspace w;
  *err = cudaSuccess;
  w.total = align_up(std::max<int64_t>(num_adjust, 0) * sizeof(float));  // adjust_raw at 0
  if (num_ids <= 0) return w;
  *err = cub::DeviceSegmentedRadixSort::SortKeys(
      nullptr, w.sort_temp_bytes, static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr),
      static_cast<int>(num_ids), static_cast<int>(rows), static_cast<const int32_t*>(nullptr),
      static_cast<const int32_t*>(nullptr));
  w.saved_raw = w.total;
  w.sorted = w.saved_raw + align_up(num_ids * sizeof(float));
  w.sort_temp = w.sorted + align_up(num_ids * sizeof(int32_t));
  w.total = w.sort_temp + align_up(w.sort_temp_bytes);
  return w;
}

}  // namespace

size_t sampling_workspace_bytes(int64_t max_rows, int64_t max_penalty_ids, int64_t max_adjust_entries) {
  cudaError_t err;
  const Workspace w = workspace_layout(max_rows, max_penalty_ids, max_adjust_entries, &err);
  return err == cudaSuccess ? w.total : 0;
}

cudaError_t sample_tokens(int32_t* tokens, float* logits, const RowSamplingParams* params,
                          const PenaltyTokens& penalties, const LogitAdjustments& adjustments,
                          float* chosen_logprob, int32_t* top_ids,
                          float* top_logprobs, int num_top_logprobs, void* workspace,
                          size_t workspace_bytes, int64_t num_rows, int64_t vocab, cudaStream_t stream) {
  if (num_rows == 0) return cudaSuccess;
  if (num_rows < 0 || num_rows > INT32_MAX || vocab <= 0 || vocab > INT32_MAX || num_top_logprobs < 0 ||
      num_top_logprobs > kMaxTopLogprobs || num_top_logprobs > vocab)
    return cudaErrorInvalidValue;
  const bool want_top = top_ids != nullptr && top_logprobs != nullptr && num_top_logprobs > 0;
  KernelArgs a{};
  a.tokens = tokens;
  a.logits = logits;
  a.params = params;
  a.chosen_logprob = chosen_logprob;
  a.top_ids = top_ids;
  a.top_logprobs = top_logprobs;
  a.num_top = want_top ? num_top_logprobs : 0;
  a.vocab = static_cast<int32_t>(vocab);
  const bool with_ids = penalties.ids != nullptr && penalties.num_ids > 0;
  const bool with_adjust = adjustments.ids != nullptr && adjustments.num_entries > 0;
  if (penalties.num_ids > INT32_MAX || adjustments.num_entries > INT32_MAX) return cudaErrorInvalidValue;
  cudaError_t err;
  Workspace w = workspace_layout(num_rows, with_ids ? penalties.num_ids : 0,
                                       with_adjust ? adjustments.num_entries : 0, &err);
  if (err != cudaSuccess) return err;
  if ((with_ids || with_adjust) && (workspace == nullptr || workspace_bytes < w.total)) return cudaErrorInvalidValue;
  char* base = static_cast<char*>(workspace);
  if (with_adjust) {
    a.adjust_ids = adjustments.ids;
    a.adjust_bias = adjustments.bias;
    a.adjust_begin = adjustments.row_begin;
    a.ban_begin = adjustments.ban_begin;
    a.adjust_raw = reinterpret_cast<float*>(base + w.adjust_raw);
  }
  size_t shared_bytes = 0;
  if (with_ids) {
    a.ids = penalties.ids;
    a.row_begin = penalties.row_begin;
    a.output_begin = penalties.output_begin;
    a.saved_raw = reinterpret_cast<float*>(base + w.saved_raw);
    a.sorted_ids = reinterpret_cast<int32_t*>(base + w.sorted);
    // Only the output segments are sorted; the prompt stretches of sorted_ids stay unwritten.
    err = cub::DeviceSegmentedRadixSort::SortKeys(
        base + w.sort_temp, w.sort_temp_bytes, penalties.ids, reinterpret_cast<int32_t*>(base + w.sorted),
        static_cast<int>(penalties.num_ids), static_cast<int>(num_rows), penalties.output_begin,
        penalties.row_begin + 1, 0, 32, stream);
    if (err != cudaSuccess) return err;
    shared_bytes = static_cast<size_t>((vocab + 31) / 32) * sizeof(uint32_t);
    err = cudaFuncSetAttribute(sample_tokens_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(shared_bytes));
    if (err != cudaSuccess) return err;
  }
  sample_tokens_kernel<<<static_cast<unsigned>(num_rows), kThreads, shared_bytes, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace troupe::cuda
