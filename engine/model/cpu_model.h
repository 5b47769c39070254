#pragma once
// CpuModel: the decoder-only forward pass (Llama / Qwen2) in fp32 on the CPU. It is the reference
// every other backend is checked against, and the local mode on machines without a GPU.
//
// A CpuModel is the whole model or one pipeline stage of it, as its weights say
// (ModelWeights::layer_range): the first stage embeds token ids, a later one starts from the
// hidden states the stage before returned, and only the last applies the final norm and the LM
// head. Running the stages one after the other is the same arithmetic as the whole model, in the
// same order, so the logits are bit-identical.
//
// A CpuModel may also be one tensor-parallel rank (its weights' shard, tensor_shard.h): it then
// computes its query and KV heads and its slice of the intermediate size, and sums the partial
// outputs of o_proj and down_proj over its group with one all-reduce each (Megatron's
// column-then-row parallel pair), adding their biases once, after the sum. Embedding and LM head
// are either replicated (VocabSplit::Replicated: only rank 0, which samples, runs the LM head) or
// split by vocabulary rows (VocabSplit::Parallel: a rank embeds the tokens it holds and the group
// sums the rows, one all-reduce; each rank computes its rows' logits and they are gathered to
// rank 0, one all-gather).
// The residual stream is the same on every rank after each all-reduce (the Communicator
// contract), so the ranks stay in step without further messages.
#include <cstdint>
#include <span>
#include <vector>

#include "comm/communicator.h"
#include "engine/model/forward_batch.h"
#include "engine/model/kv_cache_storage.h"
#include "engine/model/layer_split.h"
#include "engine/model/model_config.h"
#include "engine/model/model_weights.h"

namespace troupe {

class CpuModel {
 public:
  // tp_group: the rank's group when weights.shard has more than one rank (its rank and size must
  // match the shard's; std::invalid_argument otherwise), may be null for a whole model. Not owned;
  // it must outlive the model, and each rank's model runs on its own thread.
  CpuModel(ModelConfig config, ModelWeights weights, Communicator* tp_group = nullptr);
  // Sets the rank's group after construction: a cluster node loads its shard at start, before
  // the group it will compute with is connected (and a new group replaces a lost one). The
  // constructor's checks apply; null leaves a TP shard unable to run. Not while a step runs.
  void join_group(Communicator* tp_group);

  // The last stage (or the whole model): writes this step's K/V of its layers into `cache` and
  // returns the logits of the last token of every sequence with wants_logits, in batch order:
  // [num such sequences, vocab_size]; on tensor-parallel ranks other than 0, none (empty). Throws std::invalid_argument on a token id outside the
  // vocabulary (first stage) or hidden states of the wrong size (later stages), std::logic_error
  // when this is not the last stage.
  std::vector<float> forward(const ForwardBatch& batch, KvCacheStorage& cache);
  // After forward(): the logits of the given tokens of that step (indices into its token_ids),
  // [n, vocab_size], from the residual stream it left in this model's workspace. For scoring
  // prompt tokens (prompt logprobs), a few rows at a time. std::logic_error unless this model
  // holds the whole LM head (the last stage; rank 0 of a replicated one, never a vocabulary
  // split, whose ranks would all have to join), std::out_of_range for a token the step lacks.
  std::vector<float> token_logits(std::span<const int32_t> token_indices);
  // Whether token_logits() can run here.
  bool holds_whole_lm_head() const {
    return is_last_stage() && shard().vocab.size() == config_.vocab_size &&
           (tp_group_ == nullptr || tp_group_->rank() == 0);
  }
  // A stage before the last: the same over its layers, returning the hidden states the next stage
  // starts from, [num_tokens, hidden_size]. std::logic_error on the last stage.
  std::vector<float> forward_hidden(const ForwardBatch& batch, KvCacheStorage& cache);

  const ModelConfig& config() const { return config_; }
  LayerRange layers() const { return weights_.layer_range; }
  bool is_first_stage() const { return troupe::is_first_stage(layers()); }
  bool is_last_stage() const { return troupe::is_last_stage(layers(), config_); }
  // The heads, intermediate slice and vocabulary rows this model computes (all of them at tp 1);
  // its KV cache holds shard().kv_heads only (KvCacheStorage's shard constructor).
  const TpShard& shard() const { return weights_.shard; }

 private:
  // x_ = the stage's input (embedded tokens or batch.hidden_states), then every layer it holds.
  void run_layers(const ForwardBatch& batch, KvCacheStorage& cache);
  void embed(const ForwardBatch& batch);
  // The final norm and LM head over rows of the residual stream x_: [rows, vocab] on rank 0 (a
  // split vocabulary's ranks each compute their block and gather; others return none).
  std::vector<float> lm_head(std::span<const int32_t> rows);
  void attention_block(const LayerWeights& l, int64_t layer, const ForwardBatch& batch,
                       KvCacheStorage& cache);
  void mlp_block(const LayerWeights& l, int64_t n_tokens);
  // proj_ = in . w^T + bias, [T, hidden]: the whole product, or on a TP rank its partial product
  // summed over the group, the bias added once after the sum.
  void row_parallel_linear(const float* in, const Matrix& w, const Matrix& bias, int64_t n_tokens, int64_t in_features);

  ModelConfig config_;
  ModelWeights weights_;
  Communicator* tp_group_;       // null for a whole model
  int64_t heads_, kv_heads_, intermediate_;  // this rank's share of the model's
  std::vector<float> inv_freq_;  // [head_dim / 2]
  // Step workspaces, reused across calls.
  std::vector<float> x_;         // [T, hidden] residual stream
  std::vector<float> normed_;    // [T, hidden]
  std::vector<float> qkv_;       // [T, q + 2 kv], this rank's heads
  std::vector<float> attn_;      // [T, q], this rank's heads
  std::vector<float> gate_up_;   // [T, 2 * inter], this rank's slice
  std::vector<float> act_;       // [T, inter], this rank's slice
  std::vector<float> proj_;      // [T, hidden]
};

}  // namespace troupe
