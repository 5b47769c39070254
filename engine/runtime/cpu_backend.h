#pragma once
// CpuBackend: CpuModel's forward pass over a host KV cache, sampled by engine/sampling. Over a
// CpuModel of one pipeline stage it is that stage (its cache holds the stage's layers only).
#include <memory>
#include <optional>

#include "engine/model/cpu_model.h"
#include "engine/model/kv_cache_storage.h"
#include "engine/runtime/model_backend.h"

namespace troupe {

class CpuBackend : public ModelBackend {
 public:
  // threads > 0: the GEMMs and loops of this backend's steps use that many threads whichever
  // thread runs them (a pipeline stage's share of the cores); 0: the process-wide setting.
  explicit CpuBackend(std::shared_ptr<CpuModel> model, int threads = 0) : model_(std::move(model)), threads_(threads) {}

  const ModelConfig& config() const override { return model_->config(); }
  void allocate_kv_cache(int32_t num_blocks, int32_t block_size) override;
  // Scores prompt tokens too (ModelBackend::computes_prompt_logprobs) when this backend's model
  // holds the whole LM head: not a stage before the last, nor a rank of a split vocabulary.
  bool computes_prompt_logprobs() const override { return model_->holds_whole_lm_head(); }
  SampledTokens run(const ForwardBatch& batch, std::span<const SamplingRow> rows) override;
  std::vector<float> logits(const ForwardBatch& batch) override;
  LayerRange layers() const override { return model_->layers(); }
  std::vector<float> forward_hidden(const ForwardBatch& batch) override;

 private:
  KvCacheStorage& cache();  // the pool, on a thread limited to threads_
  // The prompt logprobs of the batch's sequences that name prompt_targets, from the residual
  // stream run() just left in the model (SampledTokens::prompt_logprobs' layout).
  std::vector<PromptLogprobs> score_prompt_tokens(const ForwardBatch& batch);

  std::shared_ptr<CpuModel> model_;  // shared: an executor restart reuses the weights
  int threads_;
  std::optional<KvCacheStorage> cache_;
};

}  // namespace troupe
