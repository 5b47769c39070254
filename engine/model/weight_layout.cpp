#include "engine/model/weight_layout.h"

#include "engine/load_error.h"

namespace troupe {

int64_t WeightPart::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::pair<int64_t, int64_t> weight_dims(const ModelConfig& c, WeightKind kind) {
  const int64_t h = c.hidden_size, q = c.q_size(), kv = c.kv_size(), inter = c.intermediate_size;
  switch (kind) {
    case WeightKind::Embed:
    case WeightKind::LmHead: return {c.vocab_size, h};
    case WeightKind::InputNorm:
    case WeightKind::PostNorm:
    case WeightKind::FinalNorm:
    case WeightKind::OBias:
    case WeightKind::DownBias: return {1, h};
    case WeightKind::Qkv: return {q + 2 * kv, h};
    case WeightKind::QkvBias: return {1, q + 2 * kv};
    case WeightKind::O: return {h, q};
    case WeightKind::GateUp: return {2 * inter, h};
    case WeightKind::GateUpBias: return {1, 2 * inter};
    case WeightKind::Down: return {h, inter};
  }
  return {0, 0};
}

std::vector<WeightPart> weight_layout(const ModelConfig& c) {
  const int64_t h = c.hidden_size, q = c.q_size(), kv = c.kv_size(), inter = c.intermediate_size;
  std::vector<WeightPart> parts;
  parts.push_back({"model.embed_tokens.weight", {c.vocab_size, h}, WeightKind::Embed, -1, 0});
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    auto add = [&](const std::string& name, std::vector<int64_t> shape, WeightKind kind, int64_t offset) {
      parts.push_back({p + name, std::move(shape), kind, i, offset});
    };
    add("input_layernorm.weight", {h}, WeightKind::InputNorm, 0);
    add("post_attention_layernorm.weight", {h}, WeightKind::PostNorm, 0);
    add("self_attn.q_proj.weight", {q, h}, WeightKind::Qkv, 0);
    add("self_attn.k_proj.weight", {kv, h}, WeightKind::Qkv, q * h);
    add("self_attn.v_proj.weight", {kv, h}, WeightKind::Qkv, (q + kv) * h);
    add("self_attn.o_proj.weight", {h, q}, WeightKind::O, 0);
    add("mlp.gate_proj.weight", {inter, h}, WeightKind::GateUp, 0);
    add("mlp.up_proj.weight", {inter, h}, WeightKind::GateUp, inter * h);
    add("mlp.down_proj.weight", {h, inter}, WeightKind::Down, 0);
    if (c.qkv_bias) {
      add("self_attn.q_proj.bias", {q}, WeightKind::QkvBias, 0);
      add("self_attn.k_proj.bias", {kv}, WeightKind::QkvBias, q);
      add("self_attn.v_proj.bias", {kv}, WeightKind::QkvBias, q + kv);
    }
    if (c.o_bias) add("self_attn.o_proj.bias", {h}, WeightKind::OBias, 0);
    if (c.mlp_bias) {
      add("mlp.gate_proj.bias", {inter}, WeightKind::GateUpBias, 0);
      add("mlp.up_proj.bias", {inter}, WeightKind::GateUpBias, inter);
      add("mlp.down_proj.bias", {h}, WeightKind::DownBias, 0);
    }
  }
  parts.push_back({"model.norm.weight", {h}, WeightKind::FinalNorm, -1, 0});
  if (!c.tie_word_embeddings) parts.push_back({"lm_head.weight", {c.vocab_size, h}, WeightKind::LmHead, -1, 0});
  return parts;
}

std::vector<WeightPart> weight_layout(const ModelConfig& c, LayerRange layers) {
  const bool first = is_first_stage(layers), last = is_last_stage(layers, c);
  std::vector<WeightPart> parts;
  for (WeightPart& p : weight_layout(c)) {
    bool held = false;
    switch (p.kind) {
      case WeightKind::Embed: held = first || (last && c.tie_word_embeddings); break;
      case WeightKind::FinalNorm:
      case WeightKind::LmHead: held = last; break;
      default: held = layers.contains(p.layer); break;
    }
    if (held) parts.push_back(std::move(p));
  }
  return parts;
}

const TensorView& checked_tensor(const Checkpoint& checkpoint, const WeightPart& part) {
  const TensorView& t = checkpoint.tensor(part.name);
  if (t.shape != part.shape)
    throw LoadError(*t.file, "tensor '" + part.name + "' has shape " + shape_string(t.shape) + ", expected " +
                                 shape_string(part.shape) + " from config.json");
  return t;
}

}  // namespace troupe
