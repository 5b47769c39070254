#pragma once
// ModelWeights: the fp32 weights the CPU forward pass reads, in Hugging Face [out, in] layout,
// with q/k/v and gate/up fused into one matrix each so every projection is one GEMM.
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/model/model_config.h"

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

struct ModelWeights {
  Matrix embed;          // [vocab, hidden]
  std::vector<LayerWeights> layers;
  Matrix final_norm;     // [1, hidden]
  Matrix lm_head;        // [vocab, hidden]; empty when tied to embed
  const Matrix& output() const { return lm_head.data.empty() ? embed : lm_head; }
};

// Reads every tensor the config calls for, checks its shape, widens it to fp32. `progress` (may be
// empty) hears (tensors done, tensors in all) after each tensor, for a progress line on big models.
using LoadProgress = std::function<void(size_t done, size_t total)>;
ModelWeights load_weights(const ModelConfig& config, const Checkpoint& checkpoint,
                          const LoadProgress& progress = {});

// Seeded random weights of the right shapes (--load-format dummy): same seed, same weights.
ModelWeights dummy_weights(const ModelConfig& config, uint64_t seed);

}  // namespace troupe
