#include "engine/model/cpu_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "engine/model/rope_frequencies.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/paged_attention.h"
#include "kernels/cpu/rope.h"

namespace troupe {
namespace {

void add_in_place(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

// Whether the shard holds a block of the vocabulary (VocabSplit::Parallel) rather than all of it.
bool splits_vocab(const TpShard& s, const ModelConfig& c) { return s.vocab.size() != c.vocab_size; }

}  // namespace

CpuModel::CpuModel(ModelConfig config, ModelWeights weights, Communicator* tp_group)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      tp_group_(tp_group),
      heads_(weights_.shard.q_heads.size()),
      kv_heads_(weights_.shard.kv_heads.size()),
      intermediate_(weights_.shard.intermediate.size()),
      inv_freq_(rope_inv_freq(config_)) {
  const TpShard& s = weights_.shard;
  if (s.size > 1 && tp_group_ != nullptr) join_group(tp_group_);
  // Vocabulary-parallel blocks are ceil(V / tp) rows each (tp_shard), which forward()'s gather of
  // equal-sized blocks relies on.
  const int64_t block = (config_.vocab_size + s.size - 1) / s.size;
  if (splits_vocab(weights_.shard, config_) && s.vocab.begin != s.rank * block)
    throw std::invalid_argument("vocabulary rows [" + std::to_string(s.vocab.begin) + ", " + std::to_string(s.vocab.end) +
                                ") are not rank " + std::to_string(s.rank) + "'s block of " + std::to_string(block));
}

void CpuModel::join_group(Communicator* tp_group) {
  const TpShard& s = weights_.shard;
  if (tp_group != nullptr && (tp_group->size() != s.size || tp_group->rank() != s.rank))
    throw std::invalid_argument("weights of tensor-parallel rank " + std::to_string(s.rank) + " of " +
                                std::to_string(s.size) + " need a communicator of that rank and size, not rank " +
                                std::to_string(tp_group->rank()) + " of " + std::to_string(tp_group->size()));
  tp_group_ = tp_group;
}

void CpuModel::embed(const ForwardBatch& batch) {
  const ModelConfig& c = config_;
  const int64_t T = batch.num_tokens(), H = c.hidden_size;
  x_.resize(T * H);
  for (int64_t t = 0; t < T; ++t) {
    const int32_t id = batch.token_ids[t];
    if (id < 0 || id >= c.vocab_size)
      throw std::invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                  std::to_string(c.vocab_size) + ")");
    // Vocabulary-parallel: a row this rank does not hold is zero here and comes from its owner in
    // the sum below. Every rank sees the same ids, so a bad one throws on all before that sum.
    const IndexRange v = weights_.shard.vocab;
    if (v.contains(id))
      std::memcpy(&x_[t * H], &weights_.embed.data[(id - v.begin) * H], H * sizeof(float));
    else
      std::memset(&x_[t * H], 0, H * sizeof(float));
  }
  if (splits_vocab(weights_.shard, config_)) tp_group_->all_reduce_sum(x_.data(), T * H);
}

void CpuModel::run_layers(const ForwardBatch& batch, KvCacheStorage& cache) {
  const int64_t T = batch.num_tokens(), H = config_.hidden_size;
  // A shard computes only a part: without its group the sums would silently be partial.
  if (weights_.shard.size > 1 && tp_group_ == nullptr)
    throw std::logic_error("tensor-parallel rank " + std::to_string(weights_.shard.rank) + " of " +
                           std::to_string(weights_.shard.size) + " ran a step before joining its group");
  if (is_first_stage()) {
    embed(batch);
  } else {
    if (static_cast<int64_t>(batch.hidden_states.size()) != T * H)
      throw std::invalid_argument("pipeline stage from layer " + std::to_string(layers().begin) + " got " +
                                  std::to_string(batch.hidden_states.size()) + " hidden-state values for " +
                                  std::to_string(T) + " tokens of width " + std::to_string(H));
    x_.assign(batch.hidden_states.begin(), batch.hidden_states.end());
  }
  for (int64_t i = layers().begin; i < layers().end; ++i) {
    attention_block(weights_.layer(i), i, batch, cache);
    mlp_block(weights_.layer(i), T);
  }
}

std::vector<float> CpuModel::forward_hidden(const ForwardBatch& batch, KvCacheStorage& cache) {
  if (is_last_stage()) throw std::logic_error("CpuModel::forward_hidden on the last pipeline stage");
  run_layers(batch, cache);
  return x_;
}

std::vector<float> CpuModel::forward(const ForwardBatch& batch, KvCacheStorage& cache) {
  if (!is_last_stage())
    throw std::logic_error("CpuModel::forward on a pipeline stage that ends at layer " + std::to_string(layers().end));
  run_layers(batch, cache);
  // Rank 0 samples: with a replicated LM head it runs it alone; split, every rank runs its rows.
  if (tp_group_ != nullptr && tp_group_->rank() != 0 && !splits_vocab(weights_.shard, config_)) return {};
  // Only the last token of each sequence that asked for logits goes through the LM head.
  std::vector<int32_t> rows;
  for (const SequenceSlice& s : batch.sequences)
    if (s.wants_logits) rows.push_back(s.token_begin + s.num_tokens - 1);
  return lm_head(rows);
}

std::vector<float> CpuModel::token_logits(std::span<const int32_t> token_indices) {
  if (!holds_whole_lm_head())
    throw std::logic_error("CpuModel::token_logits needs the whole LM head (the last stage, rank 0 of a replicated one)");
  const int64_t T = static_cast<int64_t>(x_.size()) / config_.hidden_size;
  for (int32_t t : token_indices)
    if (t < 0 || t >= T)
      throw std::out_of_range("token " + std::to_string(t) + " is not one of the last step's " + std::to_string(T));
  return lm_head(token_indices);
}

std::vector<float> CpuModel::lm_head(std::span<const int32_t> rows) {
  const ModelConfig& c = config_;
  const int64_t H = c.hidden_size;
  std::vector<float> last;  // [S, hidden]
  last.reserve(rows.size() * H);
  for (int32_t t : rows) last.insert(last.end(), &x_[int64_t{t} * H], &x_[int64_t{t} * H] + H);
  const int64_t S = static_cast<int64_t>(rows.size());
  std::vector<float> logits(S * c.vocab_size);  // [S, vocab]
  if (S == 0) return tp_group_ != nullptr && tp_group_->rank() != 0 ? std::vector<float>{} : logits;
  cpu::rms_norm(last.data(), last.data(), weights_.final_norm.ptr(), S, H, c.rms_norm_eps);
  if (!splits_vocab(weights_.shard, config_)) {
    cpu::linear(logits.data(), last.data(), weights_.output().ptr(), nullptr, S, c.vocab_size, H);
    return logits;
  }
  // Each rank's rows of the logits, padded to the common block so the gather moves equal parts.
  const TpShard& sh = weights_.shard;
  const int64_t block = (c.vocab_size + sh.size - 1) / sh.size, mine = sh.vocab.size();
  std::vector<float> part(S * mine);                  // [S, mine]
  cpu::linear(part.data(), last.data(), weights_.output().ptr(), nullptr, S, mine, H);
  std::vector<float> padded(S * block, 0.0f);         // [S, block]
  for (int64_t i = 0; i < S; ++i) std::memcpy(&padded[i * block], &part[i * mine], mine * sizeof(float));
  std::vector<float> gathered(sh.size * S * block);   // [tp, S, block]
  tp_group_->all_gather(padded.data(), gathered.data(), S * block);
  if (sh.rank != 0) return {};
  for (int32_t r = 0; r < sh.size; ++r) {
    const int64_t begin = r * block, n = std::min(block, c.vocab_size - begin);
    for (int64_t i = 0; i < S; ++i)
      std::memcpy(&logits[i * c.vocab_size + begin], &gathered[(r * S + i) * block], n * sizeof(float));
  }
  return logits;
}

void CpuModel::attention_block(const LayerWeights& l, int64_t layer, const ForwardBatch& batch,
                               KvCacheStorage& cache) {
  const ModelConfig& c = config_;
  const int64_t T = batch.num_tokens(), H = c.hidden_size;
  const int64_t q = heads_ * c.head_dim, kv = kv_heads_ * c.head_dim, stride = q + 2 * kv;
  normed_.resize(T * H);
  qkv_.resize(T * stride);
  attn_.resize(T * q);
  proj_.resize(T * H);
  cpu::rms_norm(normed_.data(), x_.data(), l.input_norm.ptr(), T, H, c.rms_norm_eps);
  cpu::linear(qkv_.data(), normed_.data(), l.qkv.ptr(), l.qkv_bias.ptr(), T, stride, H);
  cpu::rope_apply(qkv_.data(), batch.positions.data(), inv_freq_.data(), T, heads_, c.head_dim, stride);
  cpu::rope_apply(qkv_.data() + q, batch.positions.data(), inv_freq_.data(), T, kv_heads_, c.head_dim, stride);
  const cpu::PagedKvLayer kv_layer = cache.layer(layer);
  if (kv_layer.n_kv_heads != kv_heads_)
    throw std::logic_error("a KV cache of " + std::to_string(kv_layer.n_kv_heads) + " heads for a model (shard) of " +
                           std::to_string(kv_heads_));
  cpu::kv_cache_write(kv_layer, qkv_.data() + q, qkv_.data() + q + kv, stride,
                      batch.slot_mapping.data(), T);
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  for (const SequenceSlice& s : batch.sequences) {
    cpu::paged_attention(attn_.data() + int64_t{s.token_begin} * q, q,
                         qkv_.data() + int64_t{s.token_begin} * stride, stride, s.num_tokens,
                         s.context_len, s.block_table.data(), kv_layer, heads_, scale);
  }
  row_parallel_linear(attn_.data(), l.o, l.o_bias, T, q);
  add_in_place(x_.data(), proj_.data(), T * H);
}

void CpuModel::mlp_block(const LayerWeights& l, int64_t T) {
  const ModelConfig& c = config_;
  const int64_t H = c.hidden_size, I = intermediate_;
  gate_up_.resize(T * 2 * I);
  act_.resize(T * I);
  cpu::rms_norm(normed_.data(), x_.data(), l.post_norm.ptr(), T, H, c.rms_norm_eps);
  cpu::linear(gate_up_.data(), normed_.data(), l.gate_up.ptr(), l.gate_up_bias.ptr(), T, 2 * I, H);
  cpu::silu_mul(act_.data(), gate_up_.data(), T, I);
  row_parallel_linear(act_.data(), l.down, l.down_bias, T, I);
  add_in_place(x_.data(), proj_.data(), T * H);
}

void CpuModel::row_parallel_linear(const float* in, const Matrix& w, const Matrix& bias, int64_t T, int64_t in_features) {
  const int64_t H = config_.hidden_size;
  if (tp_group_ == nullptr) {
    cpu::linear(proj_.data(), in, w.ptr(), bias.ptr(), T, H, in_features);
    return;
  }
  cpu::linear(proj_.data(), in, w.ptr(), nullptr, T, H, in_features);
  tp_group_->all_reduce_sum(proj_.data(), T * H);
  if (bias.ptr() == nullptr) return;
  for (int64_t t = 0; t < T; ++t) add_in_place(proj_.data() + t * H, bias.ptr(), H);
}

}  // namespace troupe
