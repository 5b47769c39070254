#pragma once
// ModelWeights: the fp32 weights the CPU forward pass reads, in Hugging Face [out, in] layout,
// with q/k/v and gate/up fused into one matrix each so every projection is one GEMM.
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/model/layer_split.h"
#include "engine/model/model_config.h"
#include "engine/model/tensor_shard.h"

namespace troupe {

class Checkpoint;

struct Matrix {
  std::vector<float> data;  // [rows, cols], row-major
  int64_t rows = 0;
  int64_t cols = 0;
  const float* ptr() const { return data.empty() ? nullptr : data.data(); }
};

struct LayerWeights {
  Matrix input_norm;     // [1, hidden]
  Matrix qkv;            // [q_size + 2 * kv_size, hidden]
  Matrix qkv_bias;       // [1, q_size + 2 * kv_size] or empty
  Matrix o;              // [hidden, q_size]
  Matrix o_bias;         // [1, hidden] or empty
  Matrix post_norm;      // [1, hidden]
  Matrix gate_up;        // [2 * intermediate, hidden]
  Matrix gate_up_bias;   // [1, 2 * intermediate] or empty
  Matrix down;           // [hidden, intermediate]
  Matrix down_bias;      // [1, hidden] or empty
};

// The weights of a whole model, or of one pipeline stage: then only what that stage reads is held
// (weight_layout(config, layers)), and the matrices of other stages stay empty. Of a
// tensor-parallel rank: then each split matrix holds only the rank's slice (tensor_shard.h), and
// the shapes below are in its heads (q_size = its query heads x head_dim, kv_size likewise,
// intermediate its slice, vocab its vocabulary rows).
struct ModelWeights {
  LayerRange layer_range;  // the decoder layers held: layers[i] is layer layer_range.begin + i
  TpShard shard;           // the heads, intermediate and vocabulary rows held (all: tp = 1)
  Matrix embed;          // [vocab, hidden]; on the first stage, and as the LM head of a tied last one
  std::vector<LayerWeights> layers;  // [layer_range.size()]
  Matrix final_norm;     // [1, hidden]; last stage only
  Matrix lm_head;        // [vocab, hidden]; last stage only, empty when tied to embed
  const Matrix& output() const { return lm_head.data.empty() ? embed : lm_head; }
  const LayerWeights& layer(int64_t i) const { return layers.at(static_cast<size_t>(i - layer_range.begin)); }
};

// Reads every tensor the config calls for, checks its shape, widens it to fp32. `progress` (may be
// empty) hears (tensors done, tensors in all) after each tensor, for a progress line on big models.
using LoadProgress = std::function<void(size_t done, size_t total)>;
ModelWeights load_weights(const ModelConfig& config, const Checkpoint& checkpoint,
                          const LoadProgress& progress = {});
// Only the tensors of one pipeline stage, read from the same memory-mapped files.
ModelWeights load_weights(const ModelConfig& config, const Checkpoint& checkpoint, LayerRange layers,
                          const LoadProgress& progress = {});
// One tensor-parallel rank's share of a stage: its rows or columns of every split tensor, read
// from the mapped files row by row (the whole tensor is never widened), whole copies of the rest.
ModelWeights load_weights(const ModelConfig& config, const Checkpoint& checkpoint, LayerRange layers,
                          const TpShard& shard, const LoadProgress& progress = {});

// Seeded random weights of the right shapes (--load-format dummy): same seed, same weights. Each
// tensor's values depend on the seed and its name alone, so a pipeline stage's tensors equal the
// whole model's.
ModelWeights dummy_weights(const ModelConfig& config, uint64_t seed);
ModelWeights dummy_weights(const ModelConfig& config, uint64_t seed, LayerRange layers);
// A rank's slices of the same values: the ranks of a group together hold dummy_weights(config, seed).
ModelWeights dummy_weights(const ModelConfig& config, uint64_t seed, LayerRange layers, const TpShard& shard);

}  // namespace troupe
