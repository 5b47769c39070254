#include "engine/runtime/cpu_backend.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "engine/sampling/sampler.h"
#include "kernels/cpu/gemm.h"

namespace troupe {
namespace {

// Prompt rows whose logits are made at once: a 2048-token chunk's all together would take 1.2 GB
// with a 152k vocabulary; 16 rows take 10 MB and are still one GEMM each.
constexpr size_t kPromptRowsPerPass = 16;

}  // namespace

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
  out.prompt_logprobs = score_prompt_tokens(batch);
  return out;
}

std::vector<PromptLogprobs> CpuBackend::score_prompt_tokens(const ForwardBatch& batch) {
  struct Scored {
    size_t sequence;   // in the batch
    int32_t token;     // index into batch.token_ids
    int32_t target;    // the prompt token its logits score
    int32_t top_n;
  };
  std::vector<Scored> scored;
  const int32_t vocab = config().vocab_size;
  for (size_t i = 0; i < batch.sequences.size(); ++i) {
    const SequenceSlice& s = batch.sequences[i];
    if (static_cast<int32_t>(s.prompt_targets.size()) > s.num_tokens)
      throw std::invalid_argument("more prompt targets than tokens in a sequence of the batch");
    for (size_t j = 0; j < s.prompt_targets.size(); ++j) {
      if (s.prompt_targets[j] < 0 || s.prompt_targets[j] >= vocab)
        throw std::invalid_argument("prompt token " + std::to_string(s.prompt_targets[j]) + " is outside the vocabulary");
      scored.push_back({i, s.token_begin + static_cast<int32_t>(j), s.prompt_targets[j], s.prompt_top_n});
    }
  }
  if (scored.empty()) return {};
  std::vector<PromptLogprobs> out(batch.sequences.size());
  for (size_t i = 0; i < batch.sequences.size(); ++i)
    if (!batch.sequences[i].prompt_targets.empty())
      out[i].first_position = batch.positions[static_cast<size_t>(batch.sequences[i].token_begin)] + 1;
  for (size_t begin = 0; begin < scored.size(); begin += kPromptRowsPerPass) {
    const size_t n = std::min(kPromptRowsPerPass, scored.size() - begin);
    std::vector<int32_t> tokens(n);
    for (size_t k = 0; k < n; ++k) tokens[k] = scored[begin + k].token;
    const std::vector<float> logits = model_->token_logits(tokens);  // [n, vocab]
    for (size_t k = 0; k < n; ++k) {
      const Scored& r = scored[begin + k];
      const auto row = std::span<const float>(logits).subspan(k * static_cast<size_t>(vocab), static_cast<size_t>(vocab));
      out[r.sequence].tokens.push_back(compute_prompt_logprobs(row, r.target, r.top_n));
    }
  }
  return out;
}

}  // namespace troupe
