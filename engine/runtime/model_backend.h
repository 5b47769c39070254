#pragma once
// ModelBackend: what an executor drives. It holds a model's weights and its KV cache on some
// device, runs one ForwardBatch and turns each row of logits into a token. The CPU backend is
// the reference; the CUDA one keeps logits on the GPU and samples there, so the interface hands
// over sampling inputs rather than taking logits back.
#include <cstdint>
#include <deque>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include "engine/model/forward_batch.h"
#include "engine/model/layer_split.h"
#include "engine/model/model_config.h"
#include "engine/sampling/logprobs.h"
#include "engine/sampling/sampling_params.h"

namespace troupe {

// How one sequence's next token is drawn: what the sampler needs beyond its logits.
struct SamplingRow {
  const SamplingParams* params = nullptr;
  uint64_t seed = 0;          // the request's seed, or one the executor drew for it
  uint64_t output_index = 0;  // which output token this is: the seeded RNG's position
  std::span<const int32_t> prompt;  // for repetition penalties
  std::span<const int32_t> output;  // tokens generated so far (penalties)
};

// A token of the batch that the step launched just before it samples and the host does not know
// yet: token_ids[token_index] is a placeholder for that step's sampled token in row `row` (its
// rows: the sequences with wants_logits, in batch order). Only backends that pipeline get these.
struct DeferredToken {
  int32_t token_index = 0;
  int32_t row = 0;
};

// A step's sampled tokens, one per row, and log-probabilities when any row's params ask for them
// (params->logprobs >= 0): then logprobs is parallel to tokens, rows that did not ask left empty.
// prompt_logprobs: when any sequence of the batch has prompt_targets, one entry per sequence of
// the batch (in batch order; empty for those without), else empty.
struct SampledTokens {
  std::vector<int32_t> tokens;
  std::vector<SampleLogprobs> logprobs;
  std::vector<PromptLogprobs> prompt_logprobs;
};

class ModelBackend {
 public:
  virtual ~ModelBackend() = default;

  virtual const ModelConfig& config() const = 0;
  // Makes the KV pool num_blocks x block_size tokens (contents undefined). Called again after an
  // executor restart; a backend that sized its pool up front only checks that it is big enough.
  // Throws std::invalid_argument when it cannot.
  virtual void allocate_kv_cache(int32_t num_blocks, int32_t block_size) = 0;
  // KV blocks the backend holds already (a GPU sizes its pool from free memory), 0 when the
  // caller chooses (allocate_kv_cache makes any size).
  virtual int32_t kv_cache_capacity() const { return 0; }
  // Whether run() applies SamplingParams' logit_bias and min_tokens mask (adjusts_logits()); the
  // HTTP layer refuses those fields by name for a backend that does not.
  virtual bool applies_logit_adjustments() const { return true; }
  // Whether run() scores the prompt tokens a batch's sequences name (SequenceSlice::prompt_targets,
  // vLLM's prompt_logprobs): that needs the LM head on every such row, not only the sampled ones.
  // A backend that cannot leaves SampledTokens::prompt_logprobs empty; the HTTP layer refuses the
  // field by name for it.
  virtual bool computes_prompt_logprobs() const { return false; }
  // Runs the batch (writing its K/V) and samples one token for every sequence with wants_logits,
  // in batch order; rows has one entry per such sequence. Throws std::invalid_argument on a token
  // id outside the vocabulary, std::runtime_error on a device failure.
  virtual SampledTokens run(const ForwardBatch& batch, std::span<const SamplingRow> rows) = 0;
  // Runs the batch and returns the logits instead of sampling: [sequences with wants_logits,
  // vocab] fp32 in batch order. For checks against a reference, not for serving.
  virtual std::vector<float> logits(const ForwardBatch& batch) = 0;

  // Pipeline parallel. A backend may hold one stage of the model: the decoder layers in layers()
  // (all of them by default), its KV cache for those only. A stage after the first reads
  // batch.hidden_states instead of embedding the token ids. run() and logits() belong to the last
  // stage; a stage before it runs forward_hidden(), which writes its layers' K/V and returns the
  // hidden states the next stage starts from, [num_tokens, hidden] fp32. Throws what run() throws,
  // and std::logic_error on a backend that is not such a stage.
  virtual LayerRange layers() const { return all_layers(config()); }
  virtual std::vector<float> forward_hidden(const ForwardBatch& /*batch*/) {
    throw std::logic_error("this backend runs no pipeline stage before the last");
  }

  // Pipelined stepping. launch() queues a step and returns; collect() waits for the oldest
  // launched step not yet collected and returns what run() would have. A backend that pipelines
  // accepts a second launch() before the first step is collected (so the host prepares step N+1
  // while the device runs step N) and fills its deferred tokens from step N's samples on the
  // device; at most two steps are launched and uncollected. rows' spans need to stay valid only
  // during launch(). The default runs the step inside launch(): nothing to overlap, and no
  // deferred tokens accepted.
  virtual bool pipelines() const { return false; }
  virtual void launch(const ForwardBatch& batch, std::span<const SamplingRow> rows,
                      std::span<const DeferredToken> deferred) {
    if (!deferred.empty()) throw std::logic_error("this backend resolves no deferred tokens");
    completed_.push_back(run(batch, rows));
  }
  // Whether collect() would return without waiting (a pipelining backend's oldest step is done).
  virtual bool ready() const { return true; }
  virtual SampledTokens collect() {
    if (completed_.empty()) throw std::logic_error("collect() without a launched step");
    SampledTokens out = std::move(completed_.front());
    completed_.pop_front();
    return out;
  }

  // Profiling (StepTrace): where the last collected step went, in ms: the host staging it, the
  // device's work on it, and how long the device sat idle before it (0 when it was launched while
  // the step before still ran). Backends that cannot tell report -1.
  struct StepTiming {
    double staging_ms = -1, device_ms = -1, gpu_idle_ms = -1;
  };
  virtual void enable_step_timing() {}
  virtual StepTiming last_step_timing() const { return {}; }

 private:
  std::deque<SampledTokens> completed_;  // the default launch()'s results, oldest first
};

}  // namespace troupe
