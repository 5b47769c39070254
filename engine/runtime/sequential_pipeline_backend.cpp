#include "engine/runtime/sequential_pipeline_backend.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace troupe {

SequentialPipelineBackend::SequentialPipelineBackend(std::vector<std::shared_ptr<ModelBackend>> stages)
    : stages_(std::move(stages)) {
  if (stages_.empty()) throw std::invalid_argument("a pipeline needs at least one stage");
  int64_t next = 0;
  for (const auto& s : stages_) {
    if (s->layers().begin != next || s->layers().size() < 1)
      throw std::invalid_argument("pipeline stage [" + std::to_string(s->layers().begin) + ", " +
                                  std::to_string(s->layers().end) + ") does not follow layer " + std::to_string(next));
    next = s->layers().end;
  }
  if (next != config().num_layers)
    throw std::invalid_argument("pipeline stages end at layer " + std::to_string(next) + " of " +
                                std::to_string(config().num_layers));
}

int32_t SequentialPipelineBackend::kv_cache_capacity() const {
  int32_t blocks = 0;
  for (const auto& s : stages_) {
    const int32_t c = s->kv_cache_capacity();
    if (c > 0) blocks = blocks == 0 ? c : std::min(blocks, c);
  }
  return blocks;
}

void SequentialPipelineBackend::allocate_kv_cache(int32_t num_blocks, int32_t block_size) {
  for (const auto& s : stages_) s->allocate_kv_cache(num_blocks, block_size);
}

ForwardBatch SequentialPipelineBackend::through_leading_stages(const ForwardBatch& batch) {
  ForwardBatch b = batch;
  for (size_t i = 0; i + 1 < stages_.size(); ++i) b.hidden_states = stages_[i]->forward_hidden(b);
  return b;
}

SampledTokens SequentialPipelineBackend::run(const ForwardBatch& batch, std::span<const SamplingRow> rows) {
  return stages_.back()->run(through_leading_stages(batch), rows);
}

std::vector<float> SequentialPipelineBackend::logits(const ForwardBatch& batch) {
  return stages_.back()->logits(through_leading_stages(batch));
}

}  // namespace troupe
