#include "engine/runtime/tensor_parallel_leader.h"

namespace troupe {

void TensorParallelLeader::to_ranks(TpRankOp::Kind kind, const ForwardBatch& batch) {
  TpRankOp op;
  op.kind = kind;
  op.batch = batch;
  to_ranks_(op);
}

void TensorParallelLeader::allocate_kv_cache(int32_t num_blocks, int32_t block_size) {
  TpRankOp op;
  op.kind = TpRankOp::Kind::AllocateKv;
  op.num_blocks = num_blocks;
  op.block_size = block_size;
  to_ranks_(op);
  rank0_->allocate_kv_cache(num_blocks, block_size);
}

SampledTokens TensorParallelLeader::run(const ForwardBatch& batch, std::span<const SamplingRow> rows) {
  to_ranks(TpRankOp::Kind::Logits, batch);
  return rank0_->run(batch, rows);
}

std::vector<float> TensorParallelLeader::logits(const ForwardBatch& batch) {
  to_ranks(TpRankOp::Kind::Logits, batch);
  return rank0_->logits(batch);
}

std::vector<float> TensorParallelLeader::forward_hidden(const ForwardBatch& batch) {
  to_ranks(TpRankOp::Kind::ForwardHidden, batch);
  return rank0_->forward_hidden(batch);
}

}  // namespace troupe
