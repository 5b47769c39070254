#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/cuda/decoder_impl.cuh"
#include "kernels/cuda/elementwise.h"

namespace troupe::cuda {

Decoder::Decoder(DecoderShape shape, int device) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.shape = std::move(shape);
  m.device = device;
  const DecoderShape& s = m.shape;
  if (static_cast<int64_t>(s.rope_inv_freq.size()) != s.head_dim / 2)
    throw std::invalid_argument("rope_inv_freq needs head_dim / 2 entries");
  TROUPE_CUDA_CHECK(cudaSetDevice(device));
  TROUPE_CUDA_CHECK(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking));
  m.gemm = std::make_unique<Gemm>();
  const int64_t h = s.hidden, inter = s.intermediate;
  m.embed = m.alloc_weight(s.vocab * h);
  m.final_norm = m.alloc_weight(h);
  m.lm_head = s.tied_embeddings ? m.embed : m.alloc_weight(s.vocab * h);
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
  Impl& m = *impl_;
  const Impl::Target t = m.target(w, layer);
  if (!t.ptr) throw std::invalid_argument("this model has no such weight (bias off, or tied LM head)");
  if (offset < 0 || numel < 0 || offset + numel > t.numel)
    throw std::invalid_argument("values [" + std::to_string(offset) + ", " + std::to_string(offset + numel) +
                                ") fall outside the weight's " + std::to_string(t.numel));
  bf16* dst = t.ptr + offset;
  if (format == HostFormat::BF16) {
    // Straight from the (memory-mapped) checkpoint: no host copy of the model at all.
    TROUPE_CUDA_CHECK(cudaMemcpy(dst, data, numel * sizeof(bf16), cudaMemcpyHostToDevice));
    return;
  }
  // Other formats are staged through a bounded device buffer and converted there: faster than on
  // the host, and the buffer stays small whatever the model's size.
  const size_t in_size = format == HostFormat::F32 ? 4 : 2;
  constexpr int64_t kChunk = int64_t{1} << 24;
  void* staging = nullptr;
  TROUPE_CUDA_CHECK(cudaMalloc(&staging, std::min(numel, kChunk) * in_size));
  try {
    for (int64_t i = 0; i < numel; i += kChunk) {
      const int64_t n = std::min(kChunk, numel - i);
      TROUPE_CUDA_CHECK(cudaMemcpyAsync(staging, static_cast<const char*>(data) + i * in_size, n * in_size,
                                        cudaMemcpyHostToDevice, m.stream));
      if (format == HostFormat::F32) {
        TROUPE_CUDA_CHECK(convert_to_bf16(dst + i, static_cast<const float*>(staging), n, m.stream));
      } else {
        TROUPE_CUDA_CHECK(convert_to_bf16(dst + i, static_cast<const __half*>(staging), n, m.stream));
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
  uint64_t salt = seed;
  auto fill = [&](bf16* p, int64_t n, float center, float scale) {
    if (p) TROUPE_CUDA_CHECK(fill_uniform(p, n, salt += 0x9e3779b97f4a7c15ull, center, scale, m.stream));
  };
  // The same scales as the CPU's dummy weights: activations stay in range, the text is noise.
  fill(m.embed, s.vocab * s.hidden, 0.0f, 0.05f);
  fill(m.final_norm, s.hidden, 1.0f, 0.1f);
  if (!s.tied_embeddings) fill(m.lm_head, s.vocab * s.hidden, 0.0f, 0.05f);
  for (int64_t i = 0; i < s.layers; ++i) {
    for (Weight w : {Weight::InputNorm, Weight::PostNorm})
      fill(m.target(w, i).ptr, s.hidden, 1.0f, 0.1f);
    for (Weight w : {Weight::Qkv, Weight::O, Weight::GateUp, Weight::Down}) {
      const Impl::Target t = m.target(w, i);
      fill(t.ptr, t.numel, 0.0f, 0.05f);
    }
    for (Weight w : {Weight::QkvBias, Weight::OBias, Weight::GateUpBias, Weight::DownBias}) {
      const Impl::Target t = m.target(w, i);
      fill(t.ptr, t.numel, 0.0f, 0.02f);
    }
  }
  TROUPE_CUDA_CHECK(cudaStreamSynchronize(m.stream));
}

}  // namespace troupe::cuda
