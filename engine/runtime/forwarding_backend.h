#pragma once
// ForwardingBackend: a ModelBackend that hands every call to another one. Decorators that watch
// or disturb a backend's steps (FaultInjectingBackend, ContextLossGuard) derive from it and
// override only what they change, so the forwarding is written once.
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "engine/runtime/model_backend.h"

namespace troupe {

class ForwardingBackend : public ModelBackend {
 public:
  explicit ForwardingBackend(std::shared_ptr<ModelBackend> inner) : inner_(std::move(inner)) {}

  const ModelConfig& config() const override { return inner_->config(); }
  void allocate_kv_cache(int32_t num_blocks, int32_t block_size) override {
    inner_->allocate_kv_cache(num_blocks, block_size);
  }
  int32_t kv_cache_capacity() const override { return inner_->kv_cache_capacity(); }
  bool applies_logit_adjustments() const override { return inner_->applies_logit_adjustments(); }
  bool computes_prompt_logprobs() const override { return inner_->computes_prompt_logprobs(); }
  SampledTokens run(const ForwardBatch& batch, std::span<const SamplingRow> rows) override {
    return inner_->run(batch, rows);
  }
  std::vector<float> logits(const ForwardBatch& batch) override { return inner_->logits(batch); }
  LayerRange layers() const override { return inner_->layers(); }
  std::vector<float> forward_hidden(const ForwardBatch& batch) override { return inner_->forward_hidden(batch); }
  bool pipelines() const override { return inner_->pipelines(); }
  void launch(const ForwardBatch& batch, std::span<const SamplingRow> rows,
              std::span<const DeferredToken> deferred) override {
    inner_->launch(batch, rows, deferred);
  }
  bool ready() const override { return inner_->ready(); }
  SampledTokens collect() override { return inner_->collect(); }
  void enable_step_timing() override { inner_->enable_step_timing(); }
  StepTiming last_step_timing() const override { return inner_->last_step_timing(); }

 protected:
  ModelBackend& inner() { return *inner_; }

 private:
  std::shared_ptr<ModelBackend> inner_;
};

}  // namespace troupe
