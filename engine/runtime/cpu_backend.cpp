#include "engine/runtime/cpu_backend.h"

#include <stdexcept>

#include "engine/sampling/sampler.h"

namespace troupe {

void CpuBackend::allocate_kv_cache(int32_t num_blocks, int32_t block_size) {
  if (num_blocks <= 0 || block_size <= 0) throw std::invalid_argument("KV pool needs positive num_blocks and block_size");
  cache_.reset();  // free the old pool before making the new one
  cache_.emplace(model_->config(), num_blocks, block_size);
}

std::vector<float> CpuBackend::logits(const ForwardBatch& batch) {
  if (!cache_) throw std::logic_error("CpuBackend used before allocate_kv_cache");
  return model_->forward(batch, *cache_);
}

std::vector<int32_t> CpuBackend::run(const ForwardBatch& batch, std::span<const SamplingRow> rows) {
  std::vector<float> logits = this->logits(batch);
  const int64_t vocab = model_->config().vocab_size;
  if (static_cast<int64_t>(logits.size()) != static_cast<int64_t>(rows.size()) * vocab)
    throw std::logic_error("one sampling row per sequence with wants_logits expected");
  std::vector<int32_t> sampled;
  sampled.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const SamplingRow& r = rows[i];
    SamplerRng rng(r.seed, r.output_index);
    sampled.push_back(sample_token(std::span<float>(logits).subspan(i * vocab, vocab), *r.params, r.prompt,
                                   r.output, rng));
  }
  return sampled;
}

}  // namespace troupe
