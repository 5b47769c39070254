#include "engine/model/sequence_generator.h"

#include <algorithm>
#include <random>
#include <stdexcept>

#include "engine/sampling/sampler.h"

namespace troupe {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// A private cache for one sequence: blocks 0..n-1 in order. Physical placement does not matter
// to the model; the block table says where each logical block lives.
struct OwnCache {
  OwnCache(const CpuModel& m, int32_t tokens, int32_t block_size)
      : storage(m.config(), m.layers(), m.shard(), (tokens + block_size - 1) / block_size, block_size) {
    for (int32_t i = 0; i < storage.num_blocks(); ++i) table.push_back(i);
  }
  KvCacheStorage storage;
  std::vector<int32_t> table;
};

// Prefills the prompt (in chunks if asked) and returns the logits of its last position.
std::vector<float> prefill(CpuModel& model, OwnCache& cache, std::span<const int32_t> prompt,
                           int32_t chunk) {
  const auto n = static_cast<int32_t>(prompt.size());
  if (chunk <= 0) chunk = n;
  std::vector<float> logits;
  for (int32_t done = 0; done < n; done += chunk) {
    const int32_t len = std::min(chunk, n - done);
    ForwardBatch batch;
    batch.add_sequence(prompt.data() + done, len, done + len, cache.table, cache.storage.block_size(),
                       done + len == n);
    logits = model.forward(batch, cache.storage);
  }
  return logits;
}

}  // namespace

const char* finish_reason_name(FinishReason r) { return r == FinishReason::Stop ? "stop" : "length"; }

SequenceGenerator::SequenceGenerator(CpuModel& model, GeneratorOptions options)
    : model_(model), options_(std::move(options)) {}

std::vector<float> SequenceGenerator::prompt_logits(std::span<const int32_t> prompt) {
  if (prompt.empty()) throw std::invalid_argument("the prompt has no tokens");
  OwnCache cache(model_, static_cast<int32_t>(prompt.size()), options_.block_size);
  return prefill(model_, cache, prompt, options_.prefill_chunk);
}

GenerationResult SequenceGenerator::generate(std::span<const int32_t> prompt,
                                             const SamplingParams& params,
                                             const std::function<void(int32_t)>& on_token) {
  if (prompt.empty()) throw std::invalid_argument("the prompt has no tokens");
  GenerationResult result;
  const auto prompt_len = static_cast<int32_t>(prompt.size());
  OwnCache cache(model_, prompt_len + params.max_tokens, options_.block_size);
  const uint64_t seed = params.seed ? *params.seed : (uint64_t{std::random_device{}()} << 32 | std::random_device{}());

  auto start = Clock::now();
  std::vector<float> logits = prefill(model_, cache, prompt, options_.prefill_chunk);
  result.prefill_seconds = seconds_since(start);
  start = Clock::now();
  for (int32_t step = 0; step < params.max_tokens; ++step) {
    SamplerRng rng(seed, static_cast<uint64_t>(step));
    const int32_t next = sample_token(logits, params, prompt, result.ids, rng);
    result.ids.push_back(next);
    if (on_token) on_token(next);
    const auto& eos = options_.eos_token_ids;
    if (!params.ignore_eos && std::find(eos.begin(), eos.end(), next) != eos.end()) {
      result.finish_reason = FinishReason::Stop;
      break;
    }
    if (step + 1 == params.max_tokens) break;
    ForwardBatch batch;
    batch.add_sequence(&next, 1, prompt_len + step + 1, cache.table, cache.storage.block_size(), true);
    logits = model_.forward(batch, cache.storage);
  }
  result.decode_seconds = seconds_since(start);
  return result;
}

}  // namespace troupe
