#pragma once
// What one tensor-parallel rank holds of each weight, Megatron/vLLM style, so the TP loader
// (load_weights with a TpShard, model_weights.h) reads its slices straight out of the checkpoint
// with no reshaping, and the placement (engine/cluster) counts their bytes:
//   q/k/v, gate/up (column-parallel): rows of the rank's heads / intermediate slice;
//   o, down (row-parallel): the matching columns, so one all-reduce after each sums the parts;
//   embedding and lm_head (vocab-parallel): a contiguous block of vocabulary rows;
//   norms and the o / down biases: whole on every rank (a row-parallel bias is added once, by
//   rank 0, after the all-reduce, as vLLM's RowParallelLinear does).
// Rank r of tp holds query heads [r*H/tp, (r+1)*H/tp) and intermediate [r*I/tp, (r+1)*I/tp).
// KV heads: [r*K/tp, (r+1)*K/tp) when tp <= K; when tp > K each KV head is replicated on tp/K
// consecutive ranks (rank r holds head r*K/tp), the ones whose query heads use it (vLLM's rule).
// Vocabulary rows: blocks of ceil(V/tp), the last rank's shorter (VocabSplit::Parallel, what the
// placement counts: the embedding lookup then needs an all-reduce and the logits a gather); or
// every row on every rank (VocabSplit::Replicated, what --tensor-parallel runs: no collective
// around them, the LM head on rank 0 alone). CpuModel runs both; bench/tensor_parallel times them.
// Everything else here assumes tensor_parallel_misfit found nothing wrong with (model, tp).
#include <cstdint>
#include <string>

#include "engine/model/layer_split.h"  // IndexRange
#include "engine/model/model_config.h"
#include "engine/model/weight_layout.h"

namespace troupe {

// IndexRange, [begin, end), is engine/model/layer_split.h's (which a stage's layers use too).

// Why the model's shapes do not admit `tp` ranks (a sentence naming the shape), or "" when they do:
// tp must divide the query heads and the intermediate size, and divide the KV heads or be a
// multiple of them (each KV head then replicated on tp/K ranks). The cluster file's check
// (engine/cluster/model_fit.h) and --tensor-parallel both ask this.
std::string tensor_parallel_misfit(const ModelConfig& model, int64_t tp);

struct TpShard {
  int32_t rank = 0, size = 1;
  IndexRange q_heads, kv_heads, intermediate, vocab;
};

enum class VocabSplit { Parallel, Replicated };

TpShard tp_shard(const ModelConfig& model, int32_t tp, int32_t rank, VocabSplit vocab = VocabSplit::Parallel);
// The whole model as a shard (tp = 1): what an unsharded ModelWeights holds.
inline TpShard whole_model_shard(const ModelConfig& model) { return tp_shard(model, 1, 0); }

// The part of a checkpoint tensor a rank holds: indices [begin, end) along dim (0: rows, 1:
// columns); dim -1: the whole tensor.
struct TensorSlice {
  int dim = -1;
  int64_t begin = 0, end = 0;
};

TensorSlice shard_slice(const ModelConfig& model, const TpShard& shard, const WeightPart& part);
int64_t slice_numel(const WeightPart& part, const TensorSlice& slice);

// [rows, cols] of a rank's (fused) weight of `kind`: weight_dims (weight_layout.h) with its heads,
// intermediate slice and vocabulary rows in place of the model's.
std::pair<int64_t, int64_t> shard_weight_dims(const ModelConfig& model, const TpShard& shard, WeightKind kind);

}  // namespace troupe
