#pragma once
// TensorParallelLeader: rank 0 of a tensor-parallel group whose other ranks run elsewhere (other
// processes or machines), as one ModelBackend. Each call is first handed to the other ranks as a
// TpRankOp through `to_ranks` (which must not wait for them: they compute at the same time as
// this rank, meeting it in the model's collectives), then run on rank 0's own shard, which
// samples. What carries the ops is the caller's business (actors/ sends them as messages), so
// this stays pure C++.
//
// A rank that never gets an op, or dies, leaves rank 0 waiting in its first collective until the
// communicator's timeout, which then throws std::runtime_error out of run(): the step fails and
// the group is lost, as one executor's failure is.
#include <functional>
#include <memory>

#include "engine/runtime/model_backend.h"
#include "engine/runtime/tensor_parallel_rank.h"

namespace troupe {

class TensorParallelLeader : public ModelBackend {
 public:
  TensorParallelLeader(std::shared_ptr<ModelBackend> rank0, std::function<void(const TpRankOp&)> to_ranks)
      : rank0_(std::move(rank0)), to_ranks_(std::move(to_ranks)) {}

  const ModelConfig& config() const override { return rank0_->config(); }
  LayerRange layers() const override { return rank0_->layers(); }
  void allocate_kv_cache(int32_t num_blocks, int32_t block_size) override;
  SampledTokens run(const ForwardBatch& batch, std::span<const SamplingRow> rows) override;
  bool computes_prompt_logprobs() const override { return rank0_->computes_prompt_logprobs(); }
  std::vector<float> logits(const ForwardBatch& batch) override;
  std::vector<float> forward_hidden(const ForwardBatch& batch) override;

 private:
  void to_ranks(TpRankOp::Kind kind, const ForwardBatch& batch);

  std::shared_ptr<ModelBackend> rank0_;
  std::function<void(const TpRankOp&)> to_ranks_;
};

}  // namespace troupe
