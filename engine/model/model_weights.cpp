#include "engine/model/model_weights.h"

#include <functional>
#include <string>

#include "engine/load_error.h"
#include "engine/model/checkpoint.h"

namespace troupe {
namespace {

// One weight the model needs: its Hugging Face name and shape, and where its rows land in the
// (possibly fused) destination matrix.
struct WeightSlot {
  std::string name;
  std::vector<int64_t> shape;
  Matrix* dst;
  int64_t row_offset;
};

Matrix make(int64_t rows, int64_t cols) { return Matrix{std::vector<float>(rows * cols), rows, cols}; }

// The layout of every weight of a model, shared by the loader and the dummy generator so both
// produce exactly the same shapes.
std::vector<WeightSlot> plan_weights(const ModelConfig& c, ModelWeights& w) {
  const int64_t h = c.hidden_size, q = c.q_size(), kv = c.kv_size(), inter = c.intermediate_size;
  std::vector<WeightSlot> slots;
  w.embed = make(c.vocab_size, h);
  slots.push_back({"model.embed_tokens.weight", {c.vocab_size, h}, &w.embed, 0});
  w.layers.resize(c.num_layers);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    LayerWeights& l = w.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    l.input_norm = make(1, h);
    l.post_norm = make(1, h);
    l.qkv = make(q + 2 * kv, h);
    l.o = make(h, q);
    l.gate_up = make(2 * inter, h);
    l.down = make(h, inter);
    slots.push_back({p + "input_layernorm.weight", {h}, &l.input_norm, 0});
    slots.push_back({p + "post_attention_layernorm.weight", {h}, &l.post_norm, 0});
    slots.push_back({p + "self_attn.q_proj.weight", {q, h}, &l.qkv, 0});
    slots.push_back({p + "self_attn.k_proj.weight", {kv, h}, &l.qkv, q});
    slots.push_back({p + "self_attn.v_proj.weight", {kv, h}, &l.qkv, q + kv});
    slots.push_back({p + "self_attn.o_proj.weight", {h, q}, &l.o, 0});
    slots.push_back({p + "mlp.gate_proj.weight", {inter, h}, &l.gate_up, 0});
    slots.push_back({p + "mlp.up_proj.weight", {inter, h}, &l.gate_up, inter});
    slots.push_back({p + "mlp.down_proj.weight", {h, inter}, &l.down, 0});
    if (c.qkv_bias) {
      l.qkv_bias = make(1, q + 2 * kv);
      slots.push_back({p + "self_attn.q_proj.bias", {q}, &l.qkv_bias, 0});
      slots.push_back({p + "self_attn.k_proj.bias", {kv}, &l.qkv_bias, q});
      slots.push_back({p + "self_attn.v_proj.bias", {kv}, &l.qkv_bias, q + kv});
    }
    if (c.o_bias) {
      l.o_bias = make(1, h);
      slots.push_back({p + "self_attn.o_proj.bias", {h}, &l.o_bias, 0});
    }
    if (c.mlp_bias) {
      l.gate_up_bias = make(1, 2 * inter);
      l.down_bias = make(1, h);
      slots.push_back({p + "mlp.gate_proj.bias", {inter}, &l.gate_up_bias, 0});
      slots.push_back({p + "mlp.up_proj.bias", {inter}, &l.gate_up_bias, inter});
      slots.push_back({p + "mlp.down_proj.bias", {h}, &l.down_bias, 0});
    }
  }
  w.final_norm = make(1, h);
  slots.push_back({"model.norm.weight", {h}, &w.final_norm, 0});
  if (!c.tie_word_embeddings) {
    w.lm_head = make(c.vocab_size, h);
    slots.push_back({"lm_head.weight", {c.vocab_size, h}, &w.lm_head, 0});
  }
  return slots;
}

float* slot_begin(const WeightSlot& s) {
  // Vectors (norms, biases) are stored as one row; their offset counts elements.
  const int64_t stride = s.shape.size() == 1 ? 1 : s.dst->cols;
  return s.dst->data.data() + s.row_offset * stride;
}

int64_t slot_numel(const WeightSlot& s) {
  int64_t n = 1;
  for (int64_t d : s.shape) n *= d;
  return n;
}

// SplitMix64: a tiny, well-mixed generator; one stream per tensor so the result does not depend
// on load order or threads.
uint64_t splitmix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

ModelWeights load_weights(const ModelConfig& config, const Checkpoint& checkpoint,
                          const LoadProgress& progress) {
  ModelWeights w;
  const std::vector<WeightSlot> slots = plan_weights(config, w);
  size_t done = 0;
  for (const WeightSlot& s : slots) {
    const TensorView& t = checkpoint.tensor(s.name);
    if (t.shape != s.shape)
      throw LoadError(*t.file, "tensor '" + s.name + "' has shape " + shape_string(t.shape) +
                                   ", expected " + shape_string(s.shape) + " from config.json");
    t.to_float(slot_begin(s));
    if (progress) progress(++done, slots.size());
  }
  return w;
}

ModelWeights dummy_weights(const ModelConfig& config, uint64_t seed) {
  ModelWeights w;
  const std::vector<WeightSlot> slots = plan_weights(config, w);
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t i = 0; i < slots.size(); ++i) {
    const WeightSlot& s = slots[i];
    float* dst = slot_begin(s);
    const int64_t n = slot_numel(s);
    const bool is_norm = s.name.find("norm.weight") != std::string::npos;
    const bool is_bias = s.name.size() > 5 && s.name.compare(s.name.size() - 5, 5, ".bias") == 0;
    uint64_t state = seed ^ std::hash<std::string>{}(s.name);
    // Norm weights near 1 and small uniform matrices, like an initialized (untrained) model:
    // activations stay in range, and the text is noise.
    const float scale = is_norm ? 0.1f : (is_bias ? 0.02f : 0.05f);
    for (int64_t j = 0; j < n; ++j) {
      const float u = static_cast<float>(splitmix(state) >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f;
      dst[j] = (is_norm ? 1.0f : 0.0f) + scale * u;
    }
  }
  return w;
}

}  // namespace troupe
