#pragma once
// TensorParallelBackend: the ranks of one tensor-parallel group in this process, as one
// ModelBackend. Each rank is a CpuBackend over its shard's CpuModel (tensor_shard.h), holding its
// KV heads; they sum their partial o_proj / down_proj outputs through the one-process
// communicator (comm/in_process_communicator.h). Every step runs on all ranks at once: rank 0 on
// the caller's thread (it runs the LM head and samples), ranks 1.. on threads this backend keeps
// for its lifetime, each with its share of the cores. It is what `troupe generate|serve
// --tensor-parallel N` run on the CPU, and the arithmetic TP executors in other processes (Gloo)
// will run rank by rank.
//
// These rank threads are the one place engine/ starts threads: the ranks must compute at the
// same time (each all-reduce waits for all of them), so one thread cannot take them in turn as
// SequentialPipelineBackend takes stages.
#include <barrier>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "comm/communicator.h"
#include "engine/model/checkpoint.h"
#include "engine/model/model_weights.h"
#include "engine/runtime/cpu_backend.h"
#include "engine/runtime/model_backend.h"
#include "engine/runtime/tensor_parallel_rank.h"

namespace troupe {

class TensorParallelBackend : public ModelBackend {
 public:
  // ranks[r] runs rank r of `group` (its model built with group[r]); std::invalid_argument when
  // the sizes or ranks disagree. The group must outlive nothing else: the backend owns it.
  TensorParallelBackend(std::vector<std::unique_ptr<Communicator>> group, std::vector<std::shared_ptr<CpuBackend>> ranks);
  ~TensorParallelBackend() override;
  TensorParallelBackend(const TensorParallelBackend&) = delete;
  TensorParallelBackend& operator=(const TensorParallelBackend&) = delete;

  const ModelConfig& config() const override { return ranks_.front()->config(); }
  void allocate_kv_cache(int32_t num_blocks, int32_t block_size) override;
  // Every rank runs the batch; rank 0 samples. A bad token id throws std::invalid_argument on every
  // rank alike (before any collective), so the group stays usable.
  SampledTokens run(const ForwardBatch& batch, std::span<const SamplingRow> rows) override;
  // Rank 0 scores prompt tokens when it holds the whole LM head (a replicated one).
  bool computes_prompt_logprobs() const override { return ranks_.front()->computes_prompt_logprobs(); }
  std::vector<float> logits(const ForwardBatch& batch) override;
  // A pipeline stage's ranks: its layers, and the hidden states the next stage starts from.
  LayerRange layers() const override { return ranks_.front()->layers(); }
  std::vector<float> forward_hidden(const ForwardBatch& batch) override;

  int32_t size() const { return static_cast<int32_t>(ranks_.size()); }

 private:
  // Runs job(r) for every rank at once, rank 0 here; rethrows the lowest rank's exception.
  void on_every_rank(const std::function<void(int32_t)>& job);
  // Rank 0 runs on_rank0, every other rank its share of `op` (apply_tp_rank_op): the same
  // mirroring a TensorParallelLeader does for ranks in other processes.
  void mirror(const TpRankOp& op, const std::function<void(ModelBackend&)>& on_rank0);
  void rank_loop(int32_t rank);

  std::vector<std::unique_ptr<Communicator>> group_;
  std::vector<std::shared_ptr<CpuBackend>> ranks_;
  // The caller and the rank threads meet at start_ (a job is set, or stopping_) and at done_.
  std::barrier<> start_, done_;
  std::function<void(int32_t)> job_;
  std::vector<std::exception_ptr> errors_;  // [size]: the current job's failure on each rank
  bool stopping_ = false;
  std::vector<std::thread> threads_;        // ranks 1 .. size-1
};

// A group of `tp` ranks over `checkpoint`'s weights (each rank reads only its slices), or dummy
// weights from `seed` when checkpoint is null; each rank computes with threads_per_rank threads.
// Embedding and LM head replicated or split by vocabulary rows (`vocab`). std::invalid_argument
// naming the shape when the model does not admit tp ranks (tensor_parallel_misfit).
std::shared_ptr<TensorParallelBackend> make_cpu_tensor_parallel_backend(const ModelConfig& config,
                                                                        const Checkpoint* checkpoint, uint64_t seed,
                                                                        int32_t tp, int threads_per_rank,
                                                                        const LoadProgress& progress = {},
                                                                        VocabSplit vocab = VocabSplit::Replicated);

}  // namespace troupe
