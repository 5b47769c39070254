#include "engine/model/model_weights.h"

#include <algorithm>
#include <map>
#include <string>

#include <xxhash.h>  // XXH64: the dummy generator's per-tensor seed

#include "engine/model/checkpoint.h"
#include "engine/model/weight_layout.h"

namespace troupe {
namespace {

// A tensor of the layout, the part of it this shard holds, and where that part goes.
struct WeightSlot {
  WeightPart part;
  TensorSlice slice;
  float* dst;  // [slice's rows, slice's cols] row-major, inside its (fused) matrix
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

// Allocates every matrix the stage's layout names (once, at the shard's fused size) and says where
// each tensor's slice goes in it. The parts of a fused matrix come in layout order (q, k, v; gate,
// up), so each slice starts where the one before it ended: the model's offsets shrunk to the shard.
std::vector<WeightSlot> plan_weights(const ModelConfig& c, LayerRange layers, const TpShard& shard, ModelWeights& w) {
  w.layer_range = layers;
  w.shard = shard;
  w.layers.resize(static_cast<size_t>(layers.size()));
  std::map<const Matrix*, int64_t> filled;  // elements of each matrix planned so far
  std::vector<WeightSlot> slots;
  for (WeightPart& part : weight_layout(c, layers)) {
    Matrix* m = matrix_for(w, part.kind, part.layer);
    if (m->data.empty()) {
      const auto [rows, cols] = shard_weight_dims(c, shard, part.kind);
      *m = Matrix{std::vector<float>(rows * cols), rows, cols};
    }
    const TensorSlice slice = shard_slice(c, shard, part);
    int64_t& at = filled[m];
    float* dst = m->data.data() + at;
    at += slice_numel(part, slice);
    slots.push_back({std::move(part), slice, dst});
  }
  return slots;
}

// Copies `slice` of a row-major tensor shaped like `part` into dst, reading element ranges
// [first, first + count) of the whole tensor through read(dst, first, count): rows are one range,
// columns one range per row.
template <class Read>
void copy_slice(const WeightPart& part, const TensorSlice& slice, float* dst, const Read& read) {
  if (slice.dim < 0) return read(dst, 0, part.numel());
  const int64_t rows = part.shape[0], row_len = part.numel() / rows;  // row_len 1 for a bias
  if (slice.dim == 0) return read(dst, slice.begin * row_len, (slice.end - slice.begin) * row_len);
  const int64_t width = slice.end - slice.begin;
  for (int64_t r = 0; r < rows; ++r) read(dst + r * width, r * row_len + slice.begin, width);
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
  return load_weights(config, checkpoint, layers, whole_model_shard(config), progress);
}

ModelWeights load_weights(const ModelConfig& config, const Checkpoint& checkpoint, LayerRange layers,
                          const TpShard& shard, const LoadProgress& progress) {
  ModelWeights w;
  const std::vector<WeightSlot> slots = plan_weights(config, layers, shard, w);
  size_t done = 0;
  for (const WeightSlot& s : slots) {
    const TensorView& t = checked_tensor(checkpoint, s.part);
    copy_slice(s.part, s.slice, s.dst, [&t](float* dst, int64_t first, int64_t count) { t.to_float(dst, first, count); });
    if (progress) progress(++done, slots.size());
  }
  return w;
}

ModelWeights dummy_weights(const ModelConfig& config, uint64_t seed) {
  return dummy_weights(config, seed, all_layers(config));
}

ModelWeights dummy_weights(const ModelConfig& config, uint64_t seed, LayerRange layers) {
  return dummy_weights(config, seed, layers, whole_model_shard(config));
}

ModelWeights dummy_weights(const ModelConfig& config, uint64_t seed, LayerRange layers, const TpShard& shard) {
  ModelWeights w;
  const std::vector<WeightSlot> slots = plan_weights(config, layers, shard, w);
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t i = 0; i < slots.size(); ++i) {
    const WeightPart& p = slots[i].part;
    const int64_t n = p.numel();
    // The whole tensor's stream, then the shard's slice of it: a rank's values are the whole
    // model's. A sliced tensor costs one whole tensor of scratch; dummy weights are for benchmarks.
    std::vector<float> whole;  // [p.numel()] when sliced
    const bool sliced = slice_numel(p, slots[i].slice) != n;
    if (sliced) whole.resize(static_cast<size_t>(n));
    float* dst = sliced ? whole.data() : slots[i].dst;
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
    if (sliced)
      copy_slice(p, slots[i].slice, slots[i].dst, [&whole](float* out, int64_t first, int64_t count) {
        std::copy_n(whole.data() + first, count, out);
      });
  }
  return w;
}

}  // namespace troupe
