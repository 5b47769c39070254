#pragma once
// SequentialPipelineBackend: the stages of a pipeline-parallel model run one after the other on
// the caller's thread, as one ModelBackend. Nothing overlaps, so it is no faster than the whole
// model; it is what a single request (`troupe generate --prompt --pipeline-parallel N`, which has
// nothing to overlap anyway) and LocalEngine run on, and the oracle the stage executors' actor
// path is tested against. The stage executors share these same stage backends (never at once).
#include <memory>
#include <vector>

#include "engine/runtime/model_backend.h"

namespace troupe {

class SequentialPipelineBackend : public ModelBackend {
 public:
  // `stages` in order: their layer ranges must tile the model, stage 0 from layer 0 (else
  // std::invalid_argument).
  explicit SequentialPipelineBackend(std::vector<std::shared_ptr<ModelBackend>> stages);

  const ModelConfig& config() const override { return stages_.front()->config(); }
  void allocate_kv_cache(int32_t num_blocks, int32_t block_size) override;
  // The fewest blocks any stage holds (GPU stages size their pools apiece), 0 when the caller chooses.
  int32_t kv_cache_capacity() const override;
  SampledTokens run(const ForwardBatch& batch, std::span<const SamplingRow> rows) override;
  bool computes_prompt_logprobs() const override { return stages_.back()->computes_prompt_logprobs(); }
  std::vector<float> logits(const ForwardBatch& batch) override;

  const std::vector<std::shared_ptr<ModelBackend>>& stages() const { return stages_; }

 private:
  // The batch with the last stage's input in place: every stage but the last run over it.
  ForwardBatch through_leading_stages(const ForwardBatch& batch);

  std::vector<std::shared_ptr<ModelBackend>> stages_;
};

}  // namespace troupe
