#pragma once
// CpuBackend: CpuModel's forward pass over a host KV cache, sampled by engine/sampling.
#include <memory>
#include <optional>

#include "engine/model/cpu_model.h"
#include "engine/model/kv_cache_storage.h"
#include "engine/runtime/model_backend.h"

namespace troupe {

class CpuBackend : public ModelBackend {
 public:
  explicit CpuBackend(std::shared_ptr<CpuModel> model) : model_(std::move(model)) {}

  const ModelConfig& config() const override { return model_->config(); }
  void allocate_kv_cache(int32_t num_blocks, int32_t block_size) override;
  SampledTokens run(const ForwardBatch& batch, std::span<const SamplingRow> rows) override;
  std::vector<float> logits(const ForwardBatch& batch) override;

 private:
  std::shared_ptr<CpuModel> model_;  // shared: an executor restart reuses the weights
  std::optional<KvCacheStorage> cache_;
};

}  // namespace troupe
