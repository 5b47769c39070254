#include "engine/runtime/cpu_backend.h"

#include <algorithm>
#include <stdexcept>

#include "engine/sampling/sampler.h"
#include "kernels/cpu/gemm.h"

namespace troupe {

void CpuBackend::allocate_kv_cache(int32_t num_blocks, int32_t block_size) {
  if (num_blocks <= 0 || block_size <= 0) throw std::invalid_argument("KV pool needs positive num_blocks and block_size");
  cache_.reset();  // free the old pool before making the new one
  cache_.emplace(model_->config(), model_->layers(), model_->shard(), num_blocks, block_size);
}

KvCacheStorage& CpuBackend::cache() {
  if (!cache_) throw std::logic_error("CpuBackend used before allocate_kv_cache");
  // Per call, not once: a restarted executor runs on a new thread.
  cpu::set_this_thread_threads(threads_);
  return *cache_;
}

std::vector<float> CpuBackend::logits(const ForwardBatch& batch) { return model_->forward(batch, cache()); }

std::vector<float> CpuBackend::forward_hidden(const ForwardBatch& batch) {
  return model_->forward_hidden(batch, cache());
}

SampledTokens CpuBackend::run(const ForwardBatch& batch, std::span<const SamplingRow> rows) {
  std::vector<float> logits = this->logits(batch);
  const int64_t vocab = model_->config().vocab_size;
  if (static_cast<int64_t>(logits.size()) != static_cast<int64_t>(rows.size()) * vocab)
    throw std::logic_error("one sampling row per sequence with wants_logits expected");
  SampledTokens out;
  out.tokens.reserve(rows.size());
  const bool any_logprobs =
      std::any_of(rows.begin(), rows.end(), [](const SamplingRow& r) { return r.params->logprobs >= 0; });
  if (any_logprobs) out.logprobs.resize(rows.size());
  std::vector<float> raw;
  for (size_t i = 0; i < rows.size(); ++i) {
    const SamplingRow& r = rows[i];
    const std::span<float> row = std::span<float>(logits).subspan(i * vocab, vocab);
    if (r.params->logprobs >= 0) raw.assign(row.begin(), row.end());  // sampling penalizes in place
    SamplerRng rng(r.seed, r.output_index);
    out.tokens.push_back(sample_token(row, *r.params, r.prompt, r.output, rng));
    if (r.params->logprobs >= 0) out.logprobs[i] = compute_logprobs(raw, out.tokens.back(), r.params->logprobs);
  }
  return out;
}

}  // namespace troupe
