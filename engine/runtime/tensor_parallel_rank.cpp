#include "engine/runtime/tensor_parallel_rank.h"

namespace troupe {

void apply_tp_rank_op(ModelBackend& rank, const TpRankOp& op) {
  switch (op.kind) {
    case TpRankOp::Kind::AllocateKv:
      rank.allocate_kv_cache(op.num_blocks, op.block_size);
      return;
    case TpRankOp::Kind::Logits:
      rank.logits(op.batch);
      return;
    case TpRankOp::Kind::ForwardHidden:
      rank.forward_hidden(op.batch);
      return;
  }
}

}  // namespace troupe
