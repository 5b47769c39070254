#include <algorithm>
#include <initializer_list>
#include <stdexcept>
#include <string>

#include "kernels/cuda/decoder_impl.cuh"
#include "kernels/cuda/elementwise.h"

namespace troupe::cuda {

Decoder::Decoder(DecoderShape shape, int device, DeviceCommunicator* tp_group) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.shape = std::move(shape);
  m.device = device;
  DecoderShape& s = m.shape;
  if (static_cast<int64_t>(s.rope_inv_freq.size()) != s.head_dim / 2)
    throw std::invalid_argument("rope_inv_freq needs head_dim / 2 entries");
  DecoderShard& sh = s.shard;
  if (sh.model_heads == 0) sh.model_heads = s.heads;
  if (sh.model_kv_heads == 0) sh.model_kv_heads = s.kv_heads;
  if (sh.model_intermediate == 0) sh.model_intermediate = s.intermediate;
  if (sh.size < 1 || sh.rank < 0 || sh.rank >= sh.size)
    throw std::invalid_argument("decoder shard: rank " + std::to_string(sh.rank) + " of " + std::to_string(sh.size));
  // A group of one is allowed, and used: its all-reduces run (NCCL's real path at world size 1).
  if ((sh.size > 1 && tp_group == nullptr) ||
      (tp_group != nullptr && (tp_group->size() != sh.size || tp_group->rank() != sh.rank)))
    throw std::invalid_argument("a tensor-parallel decoder (rank " + std::to_string(sh.rank) + " of " +
                                std::to_string(sh.size) + ") needs a communicator of that rank and size");
  m.tp = tp_group;
  DecoderStage& st = s.stage;
  if (st.model_layers == 0) st.model_layers = s.layers;
  if (s.layers < 1 || st.first_layer < 0 || st.first_layer + s.layers > st.model_layers ||
      st.first != (st.first_layer == 0) || st.last != (st.first_layer + s.layers == st.model_layers))
    throw std::invalid_argument("decoder stage: layers [" + std::to_string(st.first_layer) + ", " +
                                std::to_string(st.first_layer + s.layers) + ") of " + std::to_string(st.model_layers) +
                                (st.first ? ", first" : "") + (st.last ? ", last" : ""));
  TROUPE_CUDA_CHECK(cudaSetDevice(device));
  TROUPE_CUDA_CHECK(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking));
  m.gemm = std::make_unique<Gemm>();
  const int64_t h = s.hidden, inter = s.intermediate;
  // With tied embeddings the last stage holds the embedding matrix too, as its LM head.
  if (st.first || (st.last && s.tied_embeddings)) m.embed = m.alloc_weight(s.vocab * h);
  if (st.last) {
    m.final_norm = m.alloc_weight(h);
    m.lm_head = s.tied_embeddings ? m.embed : m.alloc_weight(s.vocab * h);
  }
  m.layers.resize(s.layers);
  for (LayerParams& l : m.layers) {
    l.input_norm = m.alloc_weight(h);
    l.post_norm = m.alloc_weight(h);
    l.qkv = m.alloc_weight(m.qkv_stride() * h);
    l.o = m.alloc_weight(h * m.q_size());
    l.gate_up = m.alloc_weight(2 * inter * h);
    l.down = m.alloc_weight(h * inter);
    if (s.qkv_bias) l.qkv_bias = m.alloc_weight(m.qkv_stride());
    if (s.o_bias) l.o_bias = m.alloc_weight(h);
    if (s.mlp_bias) {
      l.gate_up_bias = m.alloc_weight(2 * inter);
      l.down_bias = m.alloc_weight(h);
    }
  }
  m.inv_freq = m.alloc<float>(s.head_dim / 2);
  TROUPE_CUDA_CHECK(cudaMemcpy(m.inv_freq, s.rope_inv_freq.data(), s.rope_inv_freq.size() * sizeof(float),
                               cudaMemcpyHostToDevice));
}

Decoder::~Decoder() {
  Impl& m = *impl_;
  cudaSetDevice(m.device);
  if (m.stream) cudaStreamSynchronize(m.stream);
  for (auto& [bucket, g] : m.graphs) cudaGraphExecDestroy(g);
  m.timer.reset();
  if (m.staged) cudaEventDestroy(m.staged);
  m.gemm.reset();
  for (void* p : m.allocations) cudaFree(p);
  if (m.host_inputs) cudaFreeHost(m.host_inputs);
  if (m.stream) cudaStreamDestroy(m.stream);
}

Decoder::Impl::Target Decoder::Impl::target(Weight w, int64_t layer) {
  Impl& m = *this;
  const DecoderShape& s = m.shape;
  const int64_t h = s.hidden, inter = s.intermediate;
  auto L = [&]() -> LayerParams& {
    if (layer < 0 || layer >= s.layers) throw std::out_of_range("layer " + std::to_string(layer) + " out of range");
    return m.layers[layer];
  };
  switch (w) {
    case Weight::Embed: return {m.embed, s.vocab * h};
    case Weight::FinalNorm: return {m.final_norm, h};
    case Weight::LmHead: return {s.tied_embeddings ? nullptr : m.lm_head, s.vocab * h};
    case Weight::InputNorm: return {L().input_norm, h};
    case Weight::PostNorm: return {L().post_norm, h};
    case Weight::Qkv: return {L().qkv, m.qkv_stride() * h};
    case Weight::QkvBias: return {L().qkv_bias, m.qkv_stride()};
    case Weight::O: return {L().o, h * m.q_size()};
    case Weight::OBias: return {L().o_bias, h};
    case Weight::GateUp: return {L().gate_up, 2 * inter * h};
    case Weight::GateUpBias: return {L().gate_up_bias, 2 * inter};
    case Weight::Down: return {L().down, h * inter};
    case Weight::DownBias: return {L().down_bias, h};
  }
  return {nullptr, 0};
}

void Decoder::upload(Weight w, int64_t layer, int64_t offset, const void* data, HostFormat format, int64_t numel) {
  upload_rows(w, layer, offset, data, format, 1, numel, numel);
}

void Decoder::upload_rows(Weight w, int64_t layer, int64_t offset, const void* data, HostFormat format, int64_t rows,
                          int64_t cols, int64_t src_stride) {
  Impl& m = *impl_;
  const Impl::Target t = m.target(w, layer);
  if (!t.ptr)
    throw std::invalid_argument("this decoder has no such weight (bias off, tied LM head, or another pipeline stage's)");
  if (rows < 0 || cols < 0 || src_stride < cols)
    throw std::invalid_argument("upload of " + std::to_string(rows) + " runs of " + std::to_string(cols) +
                                " values " + std::to_string(src_stride) + " apart");
  const int64_t numel = rows * cols;
  if (offset < 0 || offset + numel > t.numel)
    throw std::invalid_argument("values [" + std::to_string(offset) + ", " + std::to_string(offset + numel) +
                                ") fall outside the weight's " + std::to_string(t.numel));
  if (numel == 0) return;
  if (src_stride == cols) {  // back to back in the source too: one run
    cols = numel;
    rows = 1;
    src_stride = cols;
  }
  bf16* dst = t.ptr + offset;
  const size_t in_size = format == HostFormat::F32 ? 4 : 2;
  if (format == HostFormat::BF16) {
    // Straight from the (memory-mapped) checkpoint: no host copy of the model at all.
    TROUPE_CUDA_CHECK(cudaMemcpy2D(dst, cols * in_size, data, src_stride * in_size, cols * in_size, rows,
                                   cudaMemcpyHostToDevice));
    return;
  }
  // Other formats are staged through a bounded device buffer and converted there: faster than on
  // the host, and the buffer stays small whatever the model's size. A chunk is a run of one long
  // row, or whole runs of a sliced tensor.
  constexpr int64_t kChunk = int64_t{1} << 24;
  const int64_t chunk_rows = rows == 1 ? 1 : std::max<int64_t>(1, kChunk / cols);
  const int64_t chunk_cols = rows == 1 ? std::min(cols, kChunk) : cols;
  void* staging = nullptr;
  TROUPE_CUDA_CHECK(cudaMalloc(&staging, std::min(rows, chunk_rows) * chunk_cols * in_size));
  try {
    for (int64_t r = 0; r < rows; r += chunk_rows) {
      const int64_t nr = std::min(chunk_rows, rows - r);
      for (int64_t c = 0; c < cols; c += chunk_cols) {
        const int64_t nc = std::min(chunk_cols, cols - c);
        const char* src = static_cast<const char*>(data) + (r * src_stride + c) * static_cast<int64_t>(in_size);
        TROUPE_CUDA_CHECK(cudaMemcpy2DAsync(staging, nc * in_size, src, src_stride * in_size, nc * in_size, nr,
                                            cudaMemcpyHostToDevice, m.stream));
        bf16* out = dst + r * cols + c;
        if (format == HostFormat::F32) {
          TROUPE_CUDA_CHECK(convert_to_bf16(out, static_cast<const float*>(staging), nr * nc, m.stream));
        } else {
          TROUPE_CUDA_CHECK(convert_to_bf16(out, static_cast<const __half*>(staging), nr * nc, m.stream));
        }
      }
    }
    TROUPE_CUDA_CHECK(cudaStreamSynchronize(m.stream));
  } catch (...) {
    cudaFree(staging);
    throw;
  }
  TROUPE_CUDA_CHECK(cudaFree(staging));
}

void Decoder::fill_dummy(uint64_t seed) {
  Impl& m = *impl_;
  const DecoderShape& s = m.shape;
  const DecoderShard& sh = s.shard;
  const int64_t h = s.hidden, d = s.head_dim;
  // A part of a whole-model tensor: `rows` runs of `cols` values at `first` + i * `stride` of the
  // tensor's stream, stored back to back at `out`.
  struct Run {
    bf16* out;
    int64_t rows, cols, first, stride;
  };
  uint64_t salt = seed;
  // One tensor's stream (one salt) for all its runs: a rank's slices equal the whole model's values.
  // Every tensor of the whole model takes its salt in order, held here or not (out null: another
  // pipeline stage's), so a stage's tensors equal the whole model's too.
  auto fill = [&](std::initializer_list<Run> runs, float center, float scale) {
    salt += 0x9e3779b97f4a7c15ull;
    if (runs.begin()->out == nullptr) return;
    for (const Run& r : runs)
      TROUPE_CUDA_CHECK(fill_uniform_slice(r.out, r.rows, r.cols, r.first, r.stride, salt, center, scale, m.stream));
  };
  auto whole = [](bf16* p, int64_t n) { return Run{p, 1, n, 0, n}; };
  const int64_t q_rows = sh.model_heads * d, kv_rows = sh.model_kv_heads * d;
  // The same scales as the CPU's dummy weights: activations stay in range, the text is noise.
  fill({whole(m.embed, s.vocab * h)}, 0.0f, 0.05f);
  fill({whole(m.final_norm, h)}, 1.0f, 0.1f);
  if (!s.tied_embeddings) fill({whole(m.lm_head, s.vocab * h)}, 0.0f, 0.05f);
  const int64_t inter = s.intermediate, I = sh.model_intermediate, i0 = sh.intermediate_begin;
  const int64_t q = m.q_size(), kv = m.kv_size();
  // Part of a fused weight, or null with the weight (a layer another stage holds).
  auto at = [](bf16* p, int64_t offset) { return p ? p + offset : nullptr; };
  const LayerParams elsewhere;  // every pointer null
  for (int64_t model_layer = 0; model_layer < s.stage.model_layers; ++model_layer) {
    const int64_t i = model_layer - s.stage.first_layer;
    const LayerParams& l = i >= 0 && i < s.layers ? m.layers[i] : elsewhere;
    fill({whole(l.input_norm, h)}, 1.0f, 0.1f);
    fill({whole(l.post_norm, h)}, 1.0f, 0.1f);
    // Column parallel: the rank's rows of q, of k and of v; of gate and of up (`width` values a
    // row: hidden for the matrices, 1 for their biases).
    auto qkv = [&](bf16* p, int64_t width) {
      fill({{p, 1, q * width, sh.q_head_begin * d * width, 0},
            {at(p, q * width), 1, kv * width, (q_rows + sh.kv_head_begin * d) * width, 0},
            {at(p, (q + kv) * width), 1, kv * width, (q_rows + kv_rows + sh.kv_head_begin * d) * width, 0}},
           0.0f, width == 1 ? 0.02f : 0.05f);
    };
    auto gate_up = [&](bf16* p, int64_t width) {
      fill({{p, 1, inter * width, i0 * width, 0}, {at(p, inter * width), 1, inter * width, (I + i0) * width, 0}}, 0.0f,
           width == 1 ? 0.02f : 0.05f);
    };
    qkv(l.qkv, h);
    // Row parallel: the rank's columns of every row of o and of down.
    fill({{l.o, h, q, sh.q_head_begin * d, q_rows}}, 0.0f, 0.05f);
    gate_up(l.gate_up, h);
    fill({{l.down, h, inter, i0, I}}, 0.0f, 0.05f);
    // Biases the model has (by its shape, not by the pointers: a layer held elsewhere has none).
    if (s.qkv_bias) qkv(l.qkv_bias, 1);
    if (s.o_bias) fill({whole(l.o_bias, h)}, 0.0f, 0.02f);
    if (s.mlp_bias) {
      gate_up(l.gate_up_bias, 1);
      fill({whole(l.down_bias, h)}, 0.0f, 0.02f);
    }
  }
  TROUPE_CUDA_CHECK(cudaStreamSynchronize(m.stream));
}

}  // namespace troupe::cuda
