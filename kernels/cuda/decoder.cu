#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/cuda/decoder_impl.cuh"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/paged_attention.h"
#include "kernels/cuda/prefill_attention.h"
#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/rope_kv_write.h"

namespace troupe::cuda {
namespace {

// Decode batches are padded up to one of these sizes so a handful of graphs serve every batch.
// Algorithms timed per shape by tune_gemms: the heuristic's first eight, and from 128 rows on also
// every tile size their algorithms take. Past the first eight the heuristic's candidates are
// rarely faster, but other tiles are at the 200-400 rows of a busy server's decode steps, where
// the output's tiles fill 132 SMs unevenly (decoder_bench's tuning table; served 128/128
// throughput +1.6%, docs/benchmarks.md). Below 128 rows the gain was small and the few hundred
// extra candidates a shape cost seconds at start.
constexpr int64_t kTileSearchRows = 128;

constexpr int32_t kGraphBuckets[] = {1, 2, 4, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512};

}  // namespace

int64_t Decoder::kv_bytes_per_block(const DecoderShape& s, int32_t block_size) {
  return 2 * s.layers * int64_t{block_size} * s.kv_heads * s.head_dim * static_cast<int64_t>(sizeof(bf16));
}

int32_t Decoder::allocate(const DecoderLimits& limits, int32_t num_blocks, double memory_utilization) {
  Impl& m = *impl_;
  if (m.allocated) throw std::logic_error("Decoder::allocate called twice");
  if (limits.max_num_tokens <= 0 || limits.max_num_seqs <= 0 || limits.max_context_len <= 0 || limits.block_size <= 0)
    throw std::invalid_argument("decoder limits must be positive");
  const DecoderShape& s = m.shape;
  m.limits = limits;
  m.limits.max_num_tokens = std::max(limits.max_num_tokens, limits.max_num_seqs);
  const int64_t T = m.limits.max_num_tokens, S = limits.max_num_seqs, H = s.hidden, I = s.intermediate;
  m.table_width = (limits.max_context_len + limits.block_size - 1) / limits.block_size;
  m.residual = m.alloc<bf16>(T * H);
  m.normed = m.alloc<bf16>(T * H);
  m.delta = m.alloc<bf16>(T * H);
  m.qkv = m.alloc<bf16>(T * m.qkv_stride());
  m.attn = m.alloc<bf16>(T * m.q_size());
  m.gate_up = m.alloc<bf16>(T * 2 * I);
  m.act = m.alloc<bf16>(T * I);
  if (s.stage.last) {
    m.last_hidden = m.alloc<bf16>(S * H);
    m.logits = m.alloc<float>(S * s.vocab);
  }
  if (!s.stage.first || !s.stage.last) {
    m.hidden_io = m.alloc<float>(T * H);
    // Graph replays read (and a padded bucket's rows may read) rows no step wrote yet.
    TROUPE_CUDA_CHECK(cudaMemset(m.hidden_io, 0, static_cast<size_t>(T * H) * sizeof(float)));
  }
  m.attn_workspace_bytes = paged_decode_workspace_bytes(S, s.heads, s.head_dim, limits.max_context_len);
  if (m.attn_workspace_bytes) m.attn_workspace = m.alloc<char>(static_cast<int64_t>(m.attn_workspace_bytes));

  m.off_tokens = 0;
  m.off_positions = T;
  m.off_slots = 2 * T;
  m.off_query_start = 3 * T;
  m.off_context = m.off_query_start + S + 1;
  m.off_logit = m.off_context + S;
  m.off_deferred = m.off_logit + S;  // [S] token indices, then [S] rows of the step before
  m.off_tables = m.off_deferred + 2 * S;
  m.input_ints = m.off_tables + S * m.table_width;
  TROUPE_CUDA_CHECK(cudaMallocHost(&m.host_inputs, m.input_ints * sizeof(int32_t)));
  TROUPE_CUDA_CHECK(cudaEventCreateWithFlags(&m.staged, cudaEventDisableTiming));
  m.deferred_mask.assign(static_cast<size_t>(T), 0);
  m.dev_inputs = m.alloc<int32_t>(m.input_ints);

  const int64_t per_block = kv_bytes_per_block(s, limits.block_size);
  if (num_blocks <= 0) {
    size_t free = 0, total = 0;
    TROUPE_CUDA_CHECK(cudaMemGetInfo(&free, &total));
    // What the utilization allows minus what is taken already (weights, activations, other
    // processes), less headroom for graphs and cuBLAS's internal allocations.
    const double budget = memory_utilization * static_cast<double>(total) - static_cast<double>(total - free) -
                          static_cast<double>(size_t{512} << 20);
    num_blocks = static_cast<int32_t>(std::max(0.0, budget / static_cast<double>(per_block)));
    if (num_blocks <= 0)
      throw std::runtime_error("no GPU memory left for the KV cache after weights and activations (" +
                               std::to_string(free >> 20) + " MiB free of " + std::to_string(total >> 20) +
                               " MiB; raise --gpu-memory-utilization or use a smaller model)");
  }
  m.num_blocks = num_blocks;
  m.k_cache = m.alloc<bf16>(s.layers * m.layer_kv_elems());
  m.v_cache = m.alloc<bf16>(s.layers * m.layer_kv_elems());
  m.allocated = true;
  return num_blocks;
}

void Decoder::Impl::run_layers(int32_t n_tokens, int32_t n_seqs, int32_t n_logits, bool decode, int32_t n_single,
                               int32_t max_q_len) {
  const DecoderShape& s = shape;
  const int64_t T = n_tokens, H = s.hidden, I = s.intermediate, q = q_size();
  const int32_t* tokens = in(off_tokens);
  const int32_t* positions = in(off_positions);
  const int32_t* slots = in(off_slots);
  const int32_t* tables = in(off_tables);
  const int32_t* context = in(off_context);
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  const int64_t heads = s.heads;
  const auto kv_heads = static_cast<int32_t>(s.kv_heads), hd = static_cast<int32_t>(s.head_dim);
  if (s.stage.first) {
    TROUPE_CUDA_CHECK(embedding_gather(residual, embed, tokens, T, H, s.vocab, stream));
  } else {
    TROUPE_CUDA_CHECK(convert_to_bf16(residual, hidden_io, T * H, stream));  // exact: the values were bf16
  }
  for (int64_t i = 0; i < s.layers; ++i) {
    const LayerParams& l = layers[i];
    bf16* k = k_cache + i * layer_kv_elems();
    bf16* v = v_cache + i * layer_kv_elems();
    TROUPE_CUDA_CHECK(fused_add_rms_norm(normed, residual, i == 0 ? nullptr : delta, l.input_norm, T, H, s.rms_norm_eps, stream));
    gemm->linear(qkv, normed, l.qkv, l.qkv_bias, T, qkv_stride(), H, stream);
    const PagedKvCache cache{k, v, limits.block_size, kv_heads, hd};
    TROUPE_CUDA_CHECK(rope_kv_write(qkv, qkv_stride(), positions, inv_freq, slots, T, heads, cache, stream));
    // Sequences of one query token (decodes, which plans put first) take the decode kernel; the
    // rest the prefill kernel, whose grid is sized by the longest query: run together, a mixed
    // step's decodes would each launch that many (mostly empty) row tiles.
    if (n_single > 0)
      TROUPE_CUDA_CHECK(paged_decode_attention(attn, qkv, qkv_stride(), cache, tables, table_width, context, n_single,
                                               heads, scale, limits.max_context_len,
                                               static_cast<float*>(attn_workspace), attn_workspace_bytes, stream));
    if (n_single < n_seqs)
      TROUPE_CUDA_CHECK(paged_prefill_attention(attn, qkv, qkv_stride(), cache, tables + int64_t{n_single} * table_width,
                                                table_width, in(off_query_start) + n_single, context + n_single,
                                                n_seqs - n_single, heads, scale, max_q_len, stream));
    gemm->linear(delta, attn, l.o, row_parallel_bias(l.o_bias), T, H, q, stream);
    all_reduce_hidden(delta, T);
    TROUPE_CUDA_CHECK(fused_add_rms_norm(normed, residual, delta, l.post_norm, T, H, s.rms_norm_eps, stream));
    gemm->linear(gate_up, normed, l.gate_up, l.gate_up_bias, T, 2 * I, H, stream);
    TROUPE_CUDA_CHECK(silu_mul(act, gate_up, T, I, stream));
    gemm->linear(delta, act, l.down, row_parallel_bias(l.down_bias), T, H, I, stream);
    all_reduce_hidden(delta, T);
  }
  if (!s.stage.last) {
    // The last layer's MLP output joins the residual stream here, not in the next stage's first
    // norm: the stage after starts from the sum, as a stored residual.
    TROUPE_CUDA_CHECK(residual_sum_to_f32(hidden_io, residual, delta, T * H, stream));
    return;
  }
  TROUPE_CUDA_CHECK(fused_add_rms_norm(normed, residual, delta, final_norm, T, H, s.rms_norm_eps, stream));
  const bf16* rows = normed;
  if (!decode) {
    TROUPE_CUDA_CHECK(gather_rows(last_hidden, normed, in(off_logit), n_logits, H, stream));
    rows = last_hidden;
  }
  gemm->linear_f32(logits, rows, lm_head, n_logits, s.vocab, H, stream);
}

// Copies a step into the pinned buffer; rows from the step's sequence count up to padded_seqs
// become inert decode rows (token 0, no KV write, empty context) for a graph of that size.
void Decoder::Impl::stage(const DecoderStep& step, int32_t padded_seqs) {
  const auto T = static_cast<int64_t>(step.token_ids.size());
  const auto S = static_cast<int64_t>(step.context_lens.size());
  const auto D = static_cast<int64_t>(step.deferred_index.size());
  if (staged_pending) TROUPE_CUDA_CHECK(cudaEventSynchronize(staged));
  int32_t* h = host_inputs;
  std::memcpy(h + off_tokens, step.token_ids.data(), T * sizeof(int32_t));
  std::memcpy(h + off_positions, step.positions.data(), T * sizeof(int32_t));
  std::memcpy(h + off_slots, step.slot_mapping.data(), T * sizeof(int32_t));
  std::memcpy(h + off_query_start, step.query_start.data(), (S + 1) * sizeof(int32_t));
  std::memcpy(h + off_context, step.context_lens.data(), S * sizeof(int32_t));
  std::memcpy(h + off_logit, step.logit_tokens.data(), step.logit_tokens.size() * sizeof(int32_t));
  std::memcpy(h + off_deferred, step.deferred_index.data(), D * sizeof(int32_t));
  std::memcpy(h + off_deferred + limits.max_num_seqs, step.deferred_row.data(), D * sizeof(int32_t));
  for (int64_t i = 0; i < D; ++i) h[off_tokens + step.deferred_index[i]] = 0;  // until filled on the device
  const int32_t cols = step.table_cols < 0 ? table_width : step.table_cols;
  if (cols == table_width) {
    std::memcpy(h + off_tables, step.block_tables.data(), S * table_width * sizeof(int32_t));
  } else {
    for (int64_t i = 0; i < S; ++i)
      std::memcpy(h + off_tables + i * table_width, step.block_tables.data() + i * cols, cols * sizeof(int32_t));
  }
  for (int64_t i = S; i < padded_seqs; ++i) {
    h[off_tokens + i] = 0;
    h[off_positions + i] = 0;
    h[off_slots + i] = -1;
    h[off_context + i] = 0;
    h[off_logit + i] = static_cast<int32_t>(i);
  }
  if (cols == table_width) {
    const int64_t ints = off_tables + S * table_width;
    TROUPE_CUDA_CHECK(cudaMemcpyAsync(dev_inputs, host_inputs, ints * sizeof(int32_t), cudaMemcpyHostToDevice, stream));
  } else {
    TROUPE_CUDA_CHECK(
        cudaMemcpyAsync(dev_inputs, host_inputs, off_tables * sizeof(int32_t), cudaMemcpyHostToDevice, stream));
    if (S > 0 && cols > 0) {
      const size_t pitch = static_cast<size_t>(table_width) * sizeof(int32_t);
      TROUPE_CUDA_CHECK(cudaMemcpy2DAsync(dev_inputs + off_tables, pitch, host_inputs + off_tables, pitch,
                                          cols * sizeof(int32_t), static_cast<size_t>(S), cudaMemcpyHostToDevice,
                                          stream));
    }
  }
  TROUPE_CUDA_CHECK(cudaEventRecord(staged, stream));
  staged_pending = true;
  TROUPE_CUDA_CHECK(fill_deferred_tokens(dev_inputs + off_tokens, in(off_deferred), in(off_deferred + limits.max_num_seqs),
                                         step.deferred_source, D, stream));
}

Decoder::GemmTuning Decoder::tune_gemms(const std::string& cached) {
  Impl& m = *impl_;
  if (!m.allocated) throw std::logic_error("tune_gemms before allocate");
  const DecoderShape& s = m.shape;
  const LayerParams& l = m.layers.front();  // every layer has the same shapes
  std::vector<int64_t> rows;
  for (int32_t bucket : kGraphBuckets)
    if (bucket >= 2 && bucket <= m.limits.max_num_seqs) rows.push_back(bucket);
  const int64_t largest_bucket = rows.empty() ? 0 : rows.back();
  if (rows.empty() || rows.back() != m.limits.max_num_tokens) rows.push_back(m.limits.max_num_tokens);
  GemmTuning out;
  if (!cached.empty()) m.gemm->import_tuned(cached);
  struct Projection {
    bf16 *y, *x, *w, *bias;
    int64_t n, k;
  };
  const Projection projections[] = {{m.qkv, m.normed, l.qkv, l.qkv_bias, m.qkv_stride(), s.hidden},
                                    {m.delta, m.attn, l.o, m.row_parallel_bias(l.o_bias), s.hidden, m.q_size()},
                                    {m.gate_up, m.normed, l.gate_up, l.gate_up_bias, 2 * s.intermediate, s.hidden},
                                    {m.delta, m.act, l.down, m.row_parallel_bias(l.down_bias), s.hidden, s.intermediate}};
  for (int64_t r : rows) {
    const Gemm::Search search{.heuristic = 8, .tiles = r >= kTileSearchRows};
    double saved = 0;
    for (const Projection& p : projections) {
      if (m.gemm->tuned(r, p.n, p.k, p.bias != nullptr)) {
        ++out.from_cache;
        continue;
      }
      const Gemm::Tuning g = m.gemm->tune(p.y, p.x, p.w, p.bias, r, p.n, p.k, search, m.stream);
      out.shapes += g.tried > 0;
      out.improved += g.best != 0;
      saved += g.heuristic_us - g.best_us;
    }
    if (r == largest_bucket) out.saved_us_largest_bucket = saved * static_cast<double>(s.layers);
  }
  return out;
}

std::string Decoder::tuned_gemms() const { return impl_->gemm->export_tuned(); }

std::string Decoder::gemm_tuning_key() const {
  TROUPE_CUDA_CHECK(cudaSetDevice(impl_->device));
  return Gemm::tuning_key();
}

bool Decoder::graphs_capturable() const { return impl_->tp == nullptr || impl_->tp->capturable(); }

void Decoder::capture_decode_graphs() {
  Impl& m = *impl_;
  if (!m.allocated) throw std::logic_error("capture_decode_graphs before allocate");
  if (!graphs_capturable())
    throw std::logic_error("this decoder's tensor-parallel communicator cannot be captured in a CUDA graph");
  for (int32_t bucket : kGraphBuckets) {
    if (bucket > m.limits.max_num_seqs) break;
    // An all-padding step first: it runs every kernel once outside capture (cuBLASLt picks its
    // algorithms then) and leaves the input regions inert for the graph's addresses.
    std::vector<int32_t> query_start{0};
    DecoderStep inert{{}, {}, {}, query_start, {}, {}, {}};
    m.stage(inert, bucket);
    m.run_layers(bucket, bucket, bucket, true, bucket, 1);
    TROUPE_CUDA_CHECK(cudaStreamSynchronize(m.stream));
    cudaGraph_t graph = nullptr;
    TROUPE_CUDA_CHECK(cudaStreamBeginCapture(m.stream, cudaStreamCaptureModeThreadLocal));
    try {
      m.run_layers(bucket, bucket, bucket, true, bucket, 1);
    } catch (...) {
      cudaStreamEndCapture(m.stream, &graph);
      if (graph) cudaGraphDestroy(graph);
      throw;
    }
    TROUPE_CUDA_CHECK(cudaStreamEndCapture(m.stream, &graph));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t status = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    TROUPE_CUDA_CHECK(status);
    m.graphs[bucket] = exec;
  }
}

void Decoder::enable_step_timing() {
  if (!impl_->timer) impl_->timer = std::make_unique<StepTimer>();
}

int Decoder::end_step_timing() { return impl_->timer ? impl_->timer->ended(impl_->stream) : -1; }

StepTiming Decoder::step_timing(int ticket) const { return impl_->timer ? impl_->timer->timing(ticket) : StepTiming{}; }

void Decoder::forward(const DecoderStep& step) {
  Impl& m = *impl_;
  if (!m.allocated) throw std::logic_error("Decoder::forward before allocate");
  // Steps may come from another thread than the one that made the decoder (a pipeline stage's
  // executor), whose current device is its own: launches must go to this decoder's.
  TROUPE_CUDA_CHECK(cudaSetDevice(m.device));
  const auto entered = std::chrono::steady_clock::now();
  const auto launched = [&] {
    if (!m.timer) return;
    m.timer->launched(m.stream, std::chrono::duration<float, std::milli>(std::chrono::steady_clock::now() - entered).count());
  };
  const auto T = static_cast<int32_t>(step.token_ids.size());
  const auto S = static_cast<int32_t>(step.context_lens.size());
  const auto L = static_cast<int32_t>(step.logit_tokens.size());
  if (T == 0) {
    launched();  // an empty step still pairs its timing events
    return;
  }
  if (T > m.limits.max_num_tokens || S > m.limits.max_num_seqs || L > S)
    throw std::invalid_argument("step exceeds the decoder's limits (" + std::to_string(T) + " tokens, " +
                                std::to_string(S) + " sequences)");
  if (step.positions.size() != step.token_ids.size() || step.slot_mapping.size() != step.token_ids.size() ||
      static_cast<int32_t>(step.query_start.size()) != S + 1 ||
      step.table_cols > m.table_width ||
      static_cast<int64_t>(step.block_tables.size()) !=
          int64_t{S} * (step.table_cols < 0 ? m.table_width : step.table_cols))
    throw std::invalid_argument("step arrays disagree in length");
  // The leading sequences of one query token, and the longest query after them.
  int32_t n_single = 0, max_q_len = 0;
  for (int32_t i = 0; i < S; ++i) {
    const int32_t q_len = step.query_start[i + 1] - step.query_start[i];
    if (q_len == 1 && n_single == i) {
      ++n_single;
    } else {
      max_q_len = std::max(max_q_len, q_len);
    }
    if (step.context_lens[i] > m.limits.max_context_len)
      throw std::invalid_argument("context of " + std::to_string(step.context_lens[i]) + " tokens exceeds max_context_len " +
                                  std::to_string(m.limits.max_context_len));
  }
  const auto D = static_cast<int32_t>(step.deferred_index.size());
  if (static_cast<int32_t>(step.deferred_row.size()) != D || D > S || (D > 0 && step.deferred_source == nullptr))
    throw std::invalid_argument("deferred tokens: index, row and source disagree");
  for (int32_t i : step.deferred_index)
    if (i < 0 || i >= T) throw std::invalid_argument("deferred token index " + std::to_string(i) + " outside the step");
  for (int32_t i : step.deferred_index) m.deferred_mask[i] = 1;
  for (int32_t t = 0; t < T; ++t) {
    const int32_t id = step.token_ids[t];
    if ((id < 0 || id >= m.shape.vocab) && !m.deferred_mask[t]) {
      for (int32_t i : step.deferred_index) m.deferred_mask[i] = 0;
      throw std::invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                  std::to_string(m.shape.vocab) + ")");
    }
  }
  for (int32_t i : step.deferred_index) m.deferred_mask[i] = 0;
  for (int32_t slot : step.slot_mapping)
    if (slot >= m.num_blocks * m.limits.block_size)
      throw std::invalid_argument("KV slot " + std::to_string(slot) + " is outside the pool");
  if (!m.shape.stage.first && step.hidden_in == nullptr)
    throw std::invalid_argument("a pipeline stage after the first needs the stage before's hidden states");
  bool decode = T == S && L == S;
  for (int32_t i = 0; decode && i < L; ++i) decode = step.logit_tokens[i] == i;
  if (decode) {
    auto it = m.graphs.lower_bound(S);
    if (it != m.graphs.end()) {
      m.stage(step, it->first);
      m.stage_hidden_in(step.hidden_in, T);
      launched();
      TROUPE_CUDA_CHECK(cudaGraphLaunch(it->second, m.stream));
      return;
    }
  }
  m.stage(step, S);
  m.stage_hidden_in(step.hidden_in, T);
  launched();
  m.run_layers(T, S, L, decode, n_single, max_q_len);
}

const float* Decoder::logits() const { return impl_->logits; }
float* Decoder::logits_mut() { return impl_->logits; }
void* Decoder::stream() const { return impl_->stream; }

// The stage before's output into hidden_io, in stream order: the step before has read its own.
// A pageable copy: the call returns once the host values are taken, so the caller may free them.
void Decoder::Impl::stage_hidden_in(const float* host, int32_t tokens) {
  if (shape.stage.first) return;
  TROUPE_CUDA_CHECK(cudaMemcpyAsync(hidden_io, host, int64_t{tokens} * shape.hidden * sizeof(float),
                                    cudaMemcpyHostToDevice, stream));
}

void Decoder::copy_hidden_out(float* host, int64_t tokens) const {
  if (impl_->shape.stage.last) throw std::logic_error("the last pipeline stage makes logits, not hidden states");
  TROUPE_CUDA_CHECK(cudaMemcpyAsync(host, impl_->hidden_io, tokens * impl_->shape.hidden * sizeof(float),
                                    cudaMemcpyDeviceToHost, impl_->stream));
  TROUPE_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
}

void Decoder::copy_logits(float* host, int64_t rows) const {
  if (!impl_->shape.stage.last) throw std::logic_error("a pipeline stage before the last makes no logits");
  TROUPE_CUDA_CHECK(cudaMemcpyAsync(host, impl_->logits, rows * impl_->shape.vocab * sizeof(float),
                                    cudaMemcpyDeviceToHost, impl_->stream));
  TROUPE_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
}

int32_t Decoder::block_table_width() const { return impl_->table_width; }
int32_t Decoder::block_size() const { return impl_->limits.block_size; }
int32_t Decoder::num_kv_blocks() const { return impl_->num_blocks; }
int32_t Decoder::num_graphs() const { return static_cast<int32_t>(impl_->graphs.size()); }
int64_t Decoder::weight_bytes() const { return impl_->weight_bytes; }
const DecoderShape& Decoder::shape() const { return impl_->shape; }

}  // namespace troupe::cuda

namespace troupe::cuda {
int device_count() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}
}  // namespace troupe::cuda
