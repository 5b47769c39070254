#include "engine/runtime/gpu_backend.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <stdexcept>
#include <vector>

#include <spdlog/spdlog.h>

#include "comm/device_communicator.h"
#include "engine/model/rope_frequencies.h"
#include "engine/model/tensor_shard.h"
#include "engine/runtime/device_sampler_row.h"
#include "engine/runtime/gemm_tuning_cache.h"
#include "engine/model/weight_layout.h"
#include "kernels/cuda/decoder.h"
#include "kernels/cuda/poison.h"
#include "kernels/cuda/device_sampler.h"

namespace troupe {
namespace {

// The decoder of one TP rank of one pipeline stage: its heads and intermediate slice, its layers,
// the vocabulary whole.
cuda::DecoderShape decoder_shape(const ModelConfig& c, const TpShard& shard, LayerRange layers) {
  cuda::DecoderShape s;
  s.vocab = c.vocab_size;
  s.hidden = c.hidden_size;
  s.intermediate = shard.intermediate.size();
  s.layers = layers.size();
  s.stage = {.first_layer = layers.begin,
             .model_layers = c.num_layers,
             .first = is_first_stage(layers),
             .last = is_last_stage(layers, c)};
  s.heads = shard.q_heads.size();
  s.kv_heads = shard.kv_heads.size();
  s.shard = {.rank = shard.rank,
             .size = shard.size,
             .q_head_begin = shard.q_heads.begin,
             .kv_head_begin = shard.kv_heads.begin,
             .intermediate_begin = shard.intermediate.begin,
             .model_heads = c.num_heads,
             .model_kv_heads = c.num_kv_heads,
             .model_intermediate = c.intermediate_size};
  s.head_dim = c.head_dim;
  s.rms_norm_eps = c.rms_norm_eps;
  s.qkv_bias = c.qkv_bias;
  s.o_bias = c.o_bias;
  s.mlp_bias = c.mlp_bias;
  s.tied_embeddings = c.tie_word_embeddings;
  s.rope_inv_freq = rope_inv_freq(c);
  return s;
}

cuda::Weight device_weight(WeightKind k) {
  switch (k) {
    case WeightKind::Embed: return cuda::Weight::Embed;
    case WeightKind::InputNorm: return cuda::Weight::InputNorm;
    case WeightKind::Qkv: return cuda::Weight::Qkv;
    case WeightKind::QkvBias: return cuda::Weight::QkvBias;
    case WeightKind::O: return cuda::Weight::O;
    case WeightKind::OBias: return cuda::Weight::OBias;
    case WeightKind::PostNorm: return cuda::Weight::PostNorm;
    case WeightKind::GateUp: return cuda::Weight::GateUp;
    case WeightKind::GateUpBias: return cuda::Weight::GateUpBias;
    case WeightKind::Down: return cuda::Weight::Down;
    case WeightKind::DownBias: return cuda::Weight::DownBias;
    case WeightKind::FinalNorm: return cuda::Weight::FinalNorm;
    case WeightKind::LmHead: return cuda::Weight::LmHead;
  }
  throw std::logic_error("unknown weight kind");
}

cuda::HostFormat host_format(DType d) {
  switch (d) {
    case DType::F32: return cuda::HostFormat::F32;
    case DType::F16: return cuda::HostFormat::F16;
    case DType::BF16: return cuda::HostFormat::BF16;
  }
  throw std::logic_error("unknown dtype");
}

// Each tensor's slice for this rank (all of it at tp 1) of this stage's tensors from the mapped
// file to the device. The parts of a fused weight come in layout order (q, k, v; gate, up), so
// each slice lands where the one before it ended: the model's offsets shrunk to the shard.
void upload_weights(cuda::Decoder& d, const ModelConfig& c, const TpShard& shard, LayerRange layers,
                    const Checkpoint& checkpoint, const LoadProgress& progress) {
  const std::vector<WeightPart> parts = weight_layout(c, layers);
  std::map<std::pair<WeightKind, int64_t>, int64_t> filled;  // elements of each (fused) weight placed so far
  size_t done = 0;
  for (const WeightPart& p : parts) {
    const TensorView& t = checked_tensor(checkpoint, p);
    const TensorSlice slice = shard_slice(c, shard, p);
    int64_t& at = filled[{p.kind, p.layer}];
    const int64_t rows = p.shape[0], row_len = p.numel() / rows;  // row_len 1 for a bias
    const auto* bytes = reinterpret_cast<const char*>(t.bytes.data());
    const auto elem = static_cast<int64_t>(dtype_size(t.dtype));
    const cuda::Weight w = device_weight(p.kind);
    const int64_t layer = p.layer < 0 ? p.layer : p.layer - layers.begin;  // the decoder's own numbering
    if (slice.dim < 0) {
      d.upload(w, layer, at, bytes, host_format(t.dtype), p.numel());
    } else if (slice.dim == 0) {
      d.upload(w, layer, at, bytes + slice.begin * row_len * elem, host_format(t.dtype),
               (slice.end - slice.begin) * row_len);
    } else {
      d.upload_rows(w, layer, at, bytes + slice.begin * elem, host_format(t.dtype), rows, slice.end - slice.begin,
                    row_len);
    }
    at += slice_numel(p, slice);
    if (progress) progress(++done, parts.size());
  }
}

class GpuBackend : public ModelBackend {
 public:
  GpuBackend(const ModelConfig& config, const Checkpoint* checkpoint, uint64_t seed, const GpuBackendOptions& o,
             const LoadProgress& progress)
      : config_(config),
        shard_(tp_shard(config, o.tp_size, o.tp_rank, VocabSplit::Replicated)),
        layers_(o.layers.size() > 0 ? o.layers : all_layers(config)),
        decoder_(decoder_shape(config, shard_, layers_), o.device, o.tp_group) {
    if (is_last_stage(layers_, config)) sampler_.emplace(config.vocab_size, o.max_num_seqs);
    if (checkpoint) {
      upload_weights(decoder_, config, shard_, layers_, *checkpoint, progress);
    } else {
      decoder_.fill_dummy(seed);
    }
    spdlog::info("GPU {}: weights {:.2f} GiB (bf16){}{}", o.device, static_cast<double>(decoder_.weight_bytes()) / (1 << 30),
                 o.tp_size > 1 ? ", tensor-parallel rank " + std::to_string(o.tp_rank) + " of " + std::to_string(o.tp_size)
                               : std::string(),
                 layers_ == all_layers(config) ? std::string()
                                               : fmt::format(", pipeline stage of layers [{}, {})", layers_.begin, layers_.end));
    const cuda::DecoderLimits limits{.max_num_tokens = o.max_num_batched_tokens,
                                     .max_num_seqs = o.max_num_seqs,
                                     .max_context_len = static_cast<int32_t>(config.max_position_embeddings),
                                     .block_size = o.block_size};
    const int32_t blocks = decoder_.allocate(limits, o.num_blocks, o.memory_utilization);
    spdlog::info("GPU {}: KV cache {} blocks of {} tokens ({} tokens, {:.2f} GiB)", o.device, blocks, o.block_size,
                 int64_t{blocks} * o.block_size,
                 static_cast<double>(cuda::Decoder::kv_bytes_per_block(decoder_.shape(), o.block_size)) * blocks /
                     (1 << 30));
    if (o.tune_gemms) tune_gemms(o);
    if (o.cuda_graphs && !decoder_.graphs_capturable())
      spdlog::warn("GPU {}: this tensor-parallel group cannot be captured in CUDA graphs; every step runs eagerly",
                   o.device);
    if (o.cuda_graphs && decoder_.graphs_capturable()) {
      decoder_.capture_decode_graphs();
      spdlog::info("GPU {}: captured {} decode graphs (batch sizes up to {})", o.device, decoder_.num_graphs(),
                   o.max_num_seqs);
    }
  }

  const ModelConfig& config() const override { return config_; }
  int32_t kv_cache_capacity() const override { return decoder_.num_kv_blocks(); }
  LayerRange layers() const override { return layers_; }

  void allocate_kv_cache(int32_t num_blocks, int32_t block_size) override {
    // A restarted executor's steps still on the device are dropped (their results were never
    // answered; the scheduler recomputes them).
    while (!pending_.empty()) {
      try {
        collect();
      } catch (const std::exception&) {
      }
    }
    // The pool was made with the activations; a restarted executor reuses it (its contents are
    // recomputed by the scheduler anyway).
    if (block_size != decoder_.block_size() || num_blocks > decoder_.num_kv_blocks())
      throw std::invalid_argument("the GPU holds " + std::to_string(decoder_.num_kv_blocks()) + " KV blocks of " +
                                  std::to_string(decoder_.block_size()) + " tokens; asked for " + std::to_string(num_blocks) +
                                  " of " + std::to_string(block_size));
  }

  SampledTokens run(const ForwardBatch& batch, std::span<const SamplingRow> rows) override {
    if (!pending_.empty()) throw std::logic_error("run() with a launched step not collected");
    launch(batch, rows, {});
    return collect();
  }

  // Step N+1 is staged and queued while step N runs; its deferred tokens are read from N's
  // sampled tokens on the device, so nothing waits for N's copy back.
  // TROUPE_PIPELINE=0 turns it off (lock step), for A/B measurements.
  bool pipelines() const override { return pipelined_ && sampler_; }
  // The device sampler adds logit_bias and masks min_tokens' stop ids, as sample_token does.
  bool applies_logit_adjustments() const override { return true; }

  void launch(const ForwardBatch& batch, std::span<const SamplingRow> rows,
              std::span<const DeferredToken> deferred) override {
    require_last_stage();
    if (pending_.size() >= 2) throw std::logic_error("two steps are launched and not collected already");
    for (const DeferredToken& d : deferred)
      if (pending_.empty() || d.row < 0 || d.row >= pending_.back().rows)
        throw std::logic_error("deferred token from a row the step before did not sample");
    forward(batch, deferred);
    if (logit_tokens_.size() != rows.size()) throw std::logic_error("one sampling row per sequence with wants_logits expected");
    Pending p{static_cast<int32_t>(rows.size()), {}, -1};
    p.wants.reserve(rows.size());
    for (const SamplingRow& r : rows) p.wants.push_back(r.params->logprobs);
    launch_sampling(rows);
    if (timing_) p.ticket = decoder_.end_step_timing();
    pending_.push_back(std::move(p));
  }

  bool ready() const override { return !sampler_ || sampler_->ready(); }

  SampledTokens collect() override {
    if (pending_.empty()) throw std::logic_error("collect() without a launched step");
    const Pending p = std::move(pending_.front());
    pending_.pop_front();
    const cuda::SamplerOutput& s = sampler_->collect();
    if (p.ticket >= 0) {
      const cuda::StepTiming t = decoder_.step_timing(p.ticket);
      last_timing_ = {t.staging_ms, t.device_ms, t.gpu_idle_ms};
    }
    SampledTokens out{.tokens = s.tokens};
    if (s.num_top < 0) return out;
    out.logprobs.resize(p.wants.size());
    for (size_t i = 0; i < p.wants.size(); ++i) {
      const int32_t want = p.wants[i];
      if (want < 0) continue;
      out.logprobs[i].logprob = s.logprob[i];
      for (int32_t j = 0; j < want; ++j)
        out.logprobs[i].top.push_back({s.top_ids[i * s.num_top + j], s.top_logprobs[i * s.num_top + j]});
    }
    return out;
  }

  void enable_step_timing() override {
    decoder_.enable_step_timing();
    timing_ = true;
  }
  StepTiming last_step_timing() const override { return last_timing_; }

  std::vector<float> logits(const ForwardBatch& batch) override {
    if (!pending_.empty()) throw std::logic_error("logits() with a launched step not collected");
    require_last_stage();
    forward(batch, {});
    std::vector<float> out(logit_tokens_.size() * config_.vocab_size);
    decoder_.copy_logits(out.data(), static_cast<int64_t>(logit_tokens_.size()));
    return out;
  }

  // Host-staged: [num_tokens, hidden] fp32 back on the host, so the next stage may be in another
  // process (an actor message) or on another GPU of this one.
  std::vector<float> forward_hidden(const ForwardBatch& batch) override {
    if (is_last_stage(layers_, config_)) throw std::logic_error("forward_hidden() on the last pipeline stage");
    if (!pending_.empty()) throw std::logic_error("forward_hidden() with a launched step not collected");
    forward(batch, {});
    std::vector<float> out(static_cast<size_t>(batch.num_tokens()) * config_.hidden_size);
    decoder_.copy_hidden_out(out.data(), batch.num_tokens());
    return out;
  }

 private:
  // Times cuBLASLt's candidates for every GEMM shape, taking what an earlier start on this kind
  // of GPU and library left in the cache file as it is.
  void tune_gemms(const GpuBackendOptions& o) {
    const std::string key = decoder_.gemm_tuning_key();
    const std::string cached = o.gemm_tuning_cache.empty() ? "" : read_gemm_tuning_cache(o.gemm_tuning_cache, key);
    spdlog::info("GPU {}: timing cuBLASLt algorithms for each GEMM shape{} (--no-gemm-tuning skips this)", o.device,
                 cached.empty() ? "" : ", reusing " + o.gemm_tuning_cache);
    const auto started = std::chrono::steady_clock::now();
    const cuda::Decoder::GemmTuning t = decoder_.tune_gemms(cached);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    spdlog::info("GPU {}: {} GEMM shapes from the cache, {} timed ({} faster than the heuristic's choice, {:.0f} us a "
                 "step saved at the largest decode batch) in {:.1f} s",
                 o.device, t.from_cache, t.shapes, t.improved, t.saved_us_largest_bucket, seconds);
    if (t.shapes > 0 && !o.gemm_tuning_cache.empty() &&
        !write_gemm_tuning_cache(o.gemm_tuning_cache, key, decoder_.tuned_gemms()))
      spdlog::warn("GPU {}: cannot write the GEMM tuning cache {}; the next start times again", o.device,
                   o.gemm_tuning_cache);
  }

  void require_last_stage() const {
    if (!sampler_) throw std::logic_error("a pipeline stage before the last makes no logits: use forward_hidden()");
  }

  void forward(const ForwardBatch& batch, std::span<const DeferredToken> deferred) {
    const bool first = is_first_stage(layers_);
    if (!first && batch.hidden_states.size() != static_cast<size_t>(batch.num_tokens()) * config_.hidden_size)
      throw std::invalid_argument("pipeline stage from layer " + std::to_string(layers_.begin) + " needs " +
                                  std::to_string(batch.num_tokens()) + " x " + std::to_string(config_.hidden_size) +
                                  " hidden states, got " + std::to_string(batch.hidden_states.size()) + " values");
    stage(batch);
    deferred_index_.clear();
    deferred_row_.clear();
    for (const DeferredToken& d : deferred) {
      deferred_index_.push_back(d.token_index);
      deferred_row_.push_back(d.row);
    }
    decoder_.forward({batch.token_ids, batch.positions, batch.slot_mapping, query_start_, context_lens_,
                      block_tables_, logit_tokens_, table_cols_, deferred_index_, deferred_row_,
                      deferred_index_.empty() ? nullptr : sampler_->device_tokens(),
                      first ? nullptr : batch.hidden_states.data()});
  }

  // The batch's per-sequence fields as the flat arrays the decoder reads; kept as members so a
  // step allocates nothing once the vectors have grown. Block tables are as wide as this step's
  // longest, not the model's context.
  void stage(const ForwardBatch& batch) {
    const size_t S = batch.sequences.size();
    const int32_t width = decoder_.block_table_width();
    query_start_.assign(1, 0);
    context_lens_.clear();
    logit_tokens_.clear();
    size_t cols = 1;
    for (const SequenceSlice& s : batch.sequences) cols = std::max(cols, s.block_table.size());
    if (cols > static_cast<size_t>(width)) throw std::invalid_argument("block table longer than the model's context allows");
    table_cols_ = static_cast<int32_t>(cols);
    block_tables_.assign(S * cols, 0);
    for (size_t i = 0; i < S; ++i) {
      const SequenceSlice& s = batch.sequences[i];
      query_start_.push_back(s.token_begin + s.num_tokens);
      context_lens_.push_back(s.context_len);
      if (s.wants_logits) logit_tokens_.push_back(s.token_begin + s.num_tokens - 1);
      std::copy(s.block_table.begin(), s.block_table.end(), block_tables_.begin() + i * cols);
    }
  }

  void launch_sampling(std::span<const SamplingRow> rows) {
    sampler_rows_.clear();
    int32_t num_top = -1;  // one launch serves the most any row asked for
    for (const SamplingRow& r : rows) {
      num_top = std::max(num_top, r.params->logprobs);
      sampler_rows_.push_back(device_sampler_row(r));
    }
    sampler_->launch(decoder_.logits_mut(), sampler_rows_, num_top, decoder_.stream());
  }

  // A launched step not collected yet: its sampling rows and the logprobs each asked for.
  struct Pending {
    int32_t rows = 0;
    std::vector<int32_t> wants;
    int ticket = -1;  // its StepTimer ticket while tracing
  };

  ModelConfig config_;
  TpShard shard_;
  LayerRange layers_;  // this pipeline stage's (all layers: the whole model)
  cuda::Decoder decoder_;
  std::optional<cuda::DeviceSampler> sampler_;  // the last stage's only
  std::vector<cuda::SamplerRow> sampler_rows_;
  std::vector<int32_t> query_start_, context_lens_, logit_tokens_, block_tables_, deferred_index_, deferred_row_;
  int32_t table_cols_ = 1;
  std::deque<Pending> pending_;
  const bool pipelined_ = [] {
    const char* e = std::getenv("TROUPE_PIPELINE");
    return e == nullptr || std::string(e) != "0";
  }();
  bool timing_ = false;
  StepTiming last_timing_;
};

}  // namespace

bool cuda_device_available() { return cuda::device_count() > 0; }

void poison_cuda_context(int device) { cuda::poison_context(device); }
int cuda_device_count() { return cuda::device_count(); }

std::shared_ptr<ModelBackend> make_gpu_backend(const ModelConfig& config, const Checkpoint* checkpoint,
                                               uint64_t dummy_seed, const GpuBackendOptions& options,
                                               const LoadProgress& progress) {
  if (!cuda_device_available()) throw std::runtime_error("no CUDA device found (--device cuda)");
  if (const std::string misfit = tensor_parallel_misfit(config, options.tp_size); !misfit.empty())
    throw std::invalid_argument(misfit);
  if (options.tp_rank < 0 || options.tp_rank >= options.tp_size)
    throw std::invalid_argument("tensor-parallel rank " + std::to_string(options.tp_rank) + " of " +
                                std::to_string(options.tp_size));
  const LayerRange& l = options.layers;
  if (l.size() > 0 && (l.begin < 0 || l.end > config.num_layers))
    throw std::invalid_argument("pipeline stage layers [" + std::to_string(l.begin) + ", " + std::to_string(l.end) +
                                ") outside the model's " + std::to_string(config.num_layers));
  return std::make_shared<GpuBackend>(config, checkpoint, dummy_seed, options, progress);
}

}  // namespace troupe
