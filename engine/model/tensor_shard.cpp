#include "engine/model/tensor_shard.h"

#include <algorithm>
#include <string>

namespace troupe {

std::string tensor_parallel_misfit(const ModelConfig& m, int64_t tp) {
  const auto n = [](int64_t v) { return std::to_string(v); };
  if (tp < 1) return "tensor_parallel must be at least 1, got " + n(tp);
  if (m.num_heads % tp != 0)
    return "tensor_parallel " + n(tp) + " does not divide the model's " + n(m.num_heads) + " attention heads";
  if (m.num_kv_heads >= tp && m.num_kv_heads % tp != 0)
    return "tensor_parallel " + n(tp) + " does not divide the model's " + n(m.num_kv_heads) + " KV heads";
  if (m.num_kv_heads < tp && tp % m.num_kv_heads != 0)
    return "the model's " + n(m.num_kv_heads) + " KV heads cannot be replicated evenly over " + n(tp) +
           " ranks (tensor_parallel must be a multiple of them)";
  if (m.intermediate_size % tp != 0)
    return "tensor_parallel " + n(tp) + " does not divide the model's intermediate_size " + n(m.intermediate_size);
  return "";
}

TpShard tp_shard(const ModelConfig& m, int32_t tp, int32_t rank, VocabSplit vocab) {
  TpShard s;
  s.rank = rank;
  s.size = tp;
  s.q_heads = {rank * m.num_heads / tp, (rank + 1) * m.num_heads / tp};
  if (tp <= m.num_kv_heads) {
    s.kv_heads = {rank * m.num_kv_heads / tp, (rank + 1) * m.num_kv_heads / tp};
  } else {
    const int64_t head = rank * m.num_kv_heads / tp;  // == its first query head's KV head
    s.kv_heads = {head, head + 1};
  }
  s.intermediate = {rank * m.intermediate_size / tp, (rank + 1) * m.intermediate_size / tp};
  const int64_t rows = (m.vocab_size + tp - 1) / tp;
  s.vocab = {std::min(m.vocab_size, rank * rows), std::min(m.vocab_size, (rank + 1) * rows)};
  if (vocab == VocabSplit::Replicated) s.vocab = {0, m.vocab_size};
  return s;
}

TensorSlice shard_slice(const ModelConfig& m, const TpShard& s, const WeightPart& part) {
  const int64_t d = m.head_dim;
  // Within the fused q;k;v weight a part at offset 0 is q_proj; k_proj and v_proj follow it.
  const bool is_q = part.offset == 0;
  const IndexRange heads = is_q ? s.q_heads : s.kv_heads;
  switch (part.kind) {
    case WeightKind::Embed:
    case WeightKind::LmHead: return {0, s.vocab.begin, s.vocab.end};
    case WeightKind::Qkv:
    case WeightKind::QkvBias: return {0, heads.begin * d, heads.end * d};
    case WeightKind::O: return {1, s.q_heads.begin * d, s.q_heads.end * d};
    case WeightKind::GateUp:
    case WeightKind::GateUpBias: return {0, s.intermediate.begin, s.intermediate.end};
    case WeightKind::Down: return {1, s.intermediate.begin, s.intermediate.end};
    case WeightKind::InputNorm:
    case WeightKind::PostNorm:
    case WeightKind::FinalNorm:
    case WeightKind::OBias:
    case WeightKind::DownBias: break;
  }
  return {};
}

int64_t slice_numel(const WeightPart& part, const TensorSlice& slice) {
  if (slice.dim < 0) return part.numel();
  return part.numel() / part.shape[static_cast<size_t>(slice.dim)] * (slice.end - slice.begin);
}

std::pair<int64_t, int64_t> shard_weight_dims(const ModelConfig& m, const TpShard& s, WeightKind kind) {
  // A rank's matrices are those of a model with its head counts, intermediate slice and vocabulary.
  ModelConfig local = m;
  local.vocab_size = s.vocab.size();
  local.num_heads = s.q_heads.size();
  local.num_kv_heads = s.kv_heads.size();
  local.intermediate_size = s.intermediate.size();
  return weight_dims(local, kind);
}

}  // namespace troupe
