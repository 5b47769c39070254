#pragma once
// What a tensor-parallel rank other than 0 is told to do, and doing it. Rank 0 owns the step: it
// resolves the plan into a ForwardBatch (StepRunner) and samples; the other ranks only compute
// their heads and slices, meeting rank 0 in the model's all-reduces. So every call rank 0's
// backend gets is mirrored to them as a TpRankOp carrying the same batch, and each applies it to
// its own shard in the same order. In one process the ops go to rank threads
// (TensorParallelBackend); across processes they travel as actor messages (wire: TpRankOp) to a
// rank's executor, while the sums go through Gloo.
#include <cstdint>

#include "engine/model/forward_batch.h"
#include "engine/runtime/model_backend.h"

namespace troupe {

struct TpRankOp {
  enum class Kind : uint8_t {
    AllocateKv,     // allocate_kv_cache(num_blocks, block_size)
    Logits,         // run() or logits() on rank 0: the batch through every layer (and the LM head
                    // when the vocabulary is split: its logits are gathered to rank 0)
    ForwardHidden,  // forward_hidden() on rank 0: a pipeline stage before the last
  };
  Kind kind = Kind::Logits;
  int32_t num_blocks = 0, block_size = 0;  // AllocateKv
  ForwardBatch batch;                      // Logits, ForwardHidden
};

// Rank r > 0's share of `op` on its shard's backend; its outputs (none or partial) are dropped.
// Throws what the backend throws: std::invalid_argument for a bad token id (before any
// collective, as rank 0 does, so the group stays in step), std::runtime_error when a collective
// fails.
void apply_tp_rank_op(ModelBackend& rank, const TpRankOp& op);

}  // namespace troupe
