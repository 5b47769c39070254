#pragma once
// CpuModel: the decoder-only forward pass (Llama / Qwen2) in fp32 on the CPU. It is the reference
// every other backend is checked against, and the local mode on machines without a GPU.
#include <cstdint>
#include <vector>

#include "engine/model/forward_batch.h"
#include "engine/model/kv_cache_storage.h"
#include "engine/model/model_config.h"
#include "engine/model/model_weights.h"

namespace troupe {

class CpuModel {
 public:
  CpuModel(ModelConfig config, ModelWeights weights);

  // Writes this step's K/V into `cache` and returns the logits of the last token of every
  // sequence with wants_logits, in batch order: [num such sequences, vocab_size].
  // Throws std::invalid_argument on a token id outside the vocabulary.
  std::vector<float> forward(const ForwardBatch& batch, KvCacheStorage& cache);

  const ModelConfig& config() const { return config_; }

 private:
  void attention_block(const LayerWeights& l, int64_t layer, const ForwardBatch& batch,
                       KvCacheStorage& cache);
  void mlp_block(const LayerWeights& l, int64_t n_tokens);

  ModelConfig config_;
  ModelWeights weights_;
  std::vector<float> inv_freq_;  // [head_dim / 2]
  // Step workspaces, reused across calls.
  std::vector<float> x_;         // [T, hidden] residual stream
  std::vector<float> normed_;    // [T, hidden]
  std::vector<float> qkv_;       // [T, q + 2 kv]
  std::vector<float> attn_;      // [T, q]
  std::vector<float> gate_up_;   // [T, 2 * inter]
  std::vector<float> act_;       // [T, inter]
  std::vector<float> proj_;      // [T, hidden]
};

}  // namespace troupe
