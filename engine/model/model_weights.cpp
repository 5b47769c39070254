#include "engine/model/model_weights.h"

#include <string>

#include <xxhash.h>  // XXH64: the dummy generator's per-tensor seed

#include "engine/model/checkpoint.h"
#include "engine/model/weight_layout.h"

namespace troupe {
namespace {

// A tensor of the layout and the host matrix its values go to.
struct WeightSlot {
  WeightPart part;
  float* dst;
};

Matrix* matrix_for(ModelWeights& w, WeightKind kind, int64_t layer) {
  switch (kind) {
    case WeightKind::Embed: return &w.embed;
    case WeightKind::FinalNorm: return &w.final_norm;
    case WeightKind::LmHead: return &w.lm_head;
    default: break;
  }
  LayerWeights& l = w.layers.at(static_cast<size_t>(layer - w.layer_range.begin));
  switch (kind) {
    case WeightKind::InputNorm: return &l.input_norm;
    case WeightKind::Qkv: return &l.qkv;
    case WeightKind::QkvBias: return &l.qkv_bias;
    case WeightKind::O: return &l.o;
    case WeightKind::OBias: return &l.o_bias;
    case WeightKind::PostNorm: return &l.post_norm;
    case WeightKind::GateUp: return &l.gate_up;
    case WeightKind::GateUpBias: return &l.gate_up_bias;
    case WeightKind::Down: return &l.down;
    case WeightKind::DownBias: return &l.down_bias;
    default: return nullptr;
  }
}

// Allocates every matrix the stage's layout names (once, at its fused size) and says where each
// tensor goes in it.
std::vector<WeightSlot> plan_weights(const ModelConfig& c, LayerRange layers, ModelWeights& w) {
  w.layer_range = layers;
  w.layers.resize(static_cast<size_t>(layers.size()));
  std::vector<WeightSlot> slots;
  for (WeightPart& part : weight_layout(c, layers)) {
    Matrix* m = matrix_for(w, part.kind, part.layer);
    if (m->data.empty()) {
      const auto [rows, cols] = weight_dims(c, part.kind);
      *m = Matrix{std::vector<float>(rows * cols), rows, cols};
    }
    float* dst = m->data.data() + part.offset;
    slots.push_back({std::move(part), dst});
  }
  return slots;
}

// SplitMix64: a tiny, well-mixed generator; one stream per tensor so the result does not depend
// on load order, threads or which pipeline stage makes it.
uint64_t splitmix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

ModelWeights load_weights(const ModelConfig& config, const Checkpoint& checkpoint,
                          const LoadProgress& progress) {
  return load_weights(config, checkpoint, all_layers(config), progress);
}

ModelWeights load_weights(const ModelConfig& config, const Checkpoint& checkpoint, LayerRange layers,
                          const LoadProgress& progress) {
  ModelWeights w;
  const std::vector<WeightSlot> slots = plan_weights(config, layers, w);
  size_t done = 0;
  for (const WeightSlot& s : slots) {
    checked_tensor(checkpoint, s.part).to_float(s.dst);
    if (progress) progress(++done, slots.size());
  }
  return w;
}

ModelWeights dummy_weights(const ModelConfig& config, uint64_t seed) {
  return dummy_weights(config, seed, all_layers(config));
}

ModelWeights dummy_weights(const ModelConfig& config, uint64_t seed, LayerRange layers) {
  ModelWeights w;
  const std::vector<WeightSlot> slots = plan_weights(config, layers, w);
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t i = 0; i < slots.size(); ++i) {
    const WeightPart& p = slots[i].part;
    float* dst = slots[i].dst;
    const int64_t n = p.numel();
    const bool is_norm = p.name.find("norm.weight") != std::string::npos;
    const bool is_bias = p.name.size() > 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0;
    // XXH64 rather than std::hash: the same name gives the same stream in every build, so stages
    // made by processes built against another standard library still form one model.
    uint64_t state = seed ^ XXH64(p.name.data(), p.name.size(), 0);
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
