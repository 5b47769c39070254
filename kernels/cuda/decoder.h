#pragma once
// Decoder: a Llama/Qwen2-shaped decoder-only transformer on one GPU, bf16 weights, paged KV
// cache. It knows shapes and arrays, not requests: a step is token ids, positions, KV slots and
// per-sequence block tables, and its product is fp32 logits of the rows asked for, left on the
// device for the sampler. This header includes no CUDA header, so pure C++ code (engine/) can
// hold one.
//
// Lifecycle: construct (weights allocated), upload() every weight or fill_dummy(), allocate()
// (activations for the step limits, then the KV pool from what memory is left), optionally
// tune_gemms() and capture_decode_graphs(), then forward() once per step.
//
// Tensor parallel (Megatron, as engine/model/tensor_shard.h splits a model): a Decoder may be one
// rank of a group. Its shape then holds the rank's query heads, KV heads and intermediate slice;
// q/k/v and gate/up are its rows (column parallel), o and down its columns (row parallel), so each
// of those two products is a partial sum that the group's DeviceCommunicator (comm/) all-reduces
// on the decoder's stream, once after o_proj and once after down_proj; their biases are added by
// rank 0 alone, before the sum. Embedding, norms and LM head are whole on every rank (replicated),
// so every rank ends a step with the same logits. With a capturable communicator (NCCL) the decode
// graphs hold the all-reduces; with the one-device test group steps run eagerly.
//
// Pipeline parallel (engine/model/layer_split.h): a Decoder may hold one stage, layers
// [first_layer, first_layer + layers) of the model. Only the first stage embeds token ids; a later
// one starts a step from the stage before's hidden states (DecoderStep::hidden_in). Only the last
// holds the final norm and LM head and makes logits; one before it ends a step with its residual
// stream in hidden_out() instead. Its KV pool holds its own layers only.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace troupe {
class DeviceCommunicator;  // comm/device_communicator.h
}

namespace troupe::cuda {

// Where a tensor-parallel rank's slices sit in the whole model: what fill_dummy needs to make the
// whole model's values (a group's ranks together hold the model a single decoder with the same
// seed holds) and what picks who adds the row-parallel biases.
struct DecoderShard {
  int32_t rank = 0, size = 1;
  int64_t q_head_begin = 0, kv_head_begin = 0, intermediate_begin = 0;  // first of the rank's
  int64_t model_heads = 0, model_kv_heads = 0, model_intermediate = 0;  // the whole model's; 0: the shape's own
};

// Which layers a pipeline stage holds, and so whether it embeds and whether it makes logits. The
// defaults are the whole model. Dummy weights take the whole model's values for the held layers.
struct DecoderStage {
  int64_t first_layer = 0;   // the model's index of the decoder's layer 0
  int64_t model_layers = 0;  // the whole model's; 0: the shape's own
  bool first = true;         // holds the embedding and embeds token ids
  bool last = true;          // holds the final norm and the LM head (the embedding, when tied)
};

struct DecoderShape {
  int64_t vocab = 0, hidden = 0, intermediate = 0, layers = 0;  // layers: those this decoder holds
  int64_t heads = 0, kv_heads = 0, head_dim = 0;
  float rms_norm_eps = 1e-6f;
  bool qkv_bias = false, o_bias = false, mlp_bias = false;
  bool tied_embeddings = false;
  std::vector<float> rope_inv_freq;  // [head_dim / 2], scaling already applied
  DecoderShard shard;                // heads, kv_heads and intermediate above are this rank's
  DecoderStage stage;                // layers above are this stage's
};

enum class HostFormat { F32, F16, BF16 };

enum class Weight { Embed, InputNorm, Qkv, QkvBias, O, OBias, PostNorm, GateUp, GateUpBias, Down, DownBias, FinalNorm, LmHead };

struct DecoderLimits {
  int32_t max_num_tokens = 2048;  // tokens in one step
  int32_t max_num_seqs = 256;     // sequences in one step (and rows of logits)
  int32_t max_context_len = 4096; // tokens one sequence's context may reach
  int32_t block_size = 16;
};

// Where a step's time went (Decoder::step_timing), in ms; -1 where not known.
struct StepTiming {
  float staging_ms = -1;   // host time preparing the step (validation, staging, launches)
  float device_ms = -1;    // the device's work on it
  float gpu_idle_ms = -1;  // the device idle between the step before it and this one
};

// One step, in host memory. Tokens of all sequences are packed back to back.
struct DecoderStep {
  std::span<const int32_t> token_ids;     // [T]
  std::span<const int32_t> positions;     // [T]
  std::span<const int32_t> slot_mapping;  // [T] block * block_size + offset
  std::span<const int32_t> query_start;   // [S + 1] first token of each sequence, then T
  std::span<const int32_t> context_lens;  // [S] tokens in the cache after this step
  std::span<const int32_t> block_tables;  // [S, table_cols], entries past a sequence's blocks anything
  std::span<const int32_t> logit_tokens;  // [L] tokens whose hidden state goes through the LM head
  // Columns of block_tables: -1 means block_table_width(). Fewer (the step's longest table)
  // moves only what the step uses to the device: a 256-sequence step of short contexts copies
  // a few KB instead of 256 full-width rows.
  int32_t table_cols = -1;
  // Tokens the step before samples (pipelined steps): token_ids[deferred_index[i]] is a
  // placeholder, filled on the device from deferred_source[deferred_row[i]] (a device array: that
  // step's sampled tokens).
  std::span<const int32_t> deferred_index, deferred_row;
  const int32_t* deferred_source = nullptr;
  // A stage after the first: the stage before's output, [T, hidden] fp32 in host memory, in place
  // of embedding token_ids (which are still checked and must still be valid ids).
  const float* hidden_in = nullptr;
};

class Decoder {
 public:
  // tp_group: the rank's group, needed when shape.shard.size > 1 and allowed at 1 (its
  // all-reduces then run, on one rank); its rank and size must match the shard's
  // (std::invalid_argument otherwise). Not owned; must outlive the decoder.
  Decoder(DecoderShape shape, int device, DeviceCommunicator* tp_group = nullptr);
  ~Decoder();

  // Copies numel host values (as a checkpoint stores them) into weight `w` from element `offset`
  // on, converting to bf16 on the device; `layer` is ignored for model-wide weights. Weights have
  // the fused [out, in] shapes (Qkv = q;k;v rows, GateUp = gate;up rows), so a checkpoint's q, k
  // and v land at their row offsets. The range is checked against the weight's size.
  void upload(Weight w, int64_t layer, int64_t offset, const void* data, HostFormat format, int64_t numel);
  // The same for `rows` runs of `cols` values, run i read from data + i * src_stride elements and
  // stored back to back: a column slice of a checkpoint tensor (a TP rank's part of o_proj or
  // down_proj), copied from the mapped file with no host copy.
  void upload_rows(Weight w, int64_t layer, int64_t offset, const void* data, HostFormat format, int64_t rows,
                   int64_t cols, int64_t src_stride);
  // Seeded noise of the right shape made on the device: norms near 1, matrices small. A TP rank
  // gets its slices of the whole model's values (shape.shard).
  void fill_dummy(uint64_t seed);

  // Allocates activations for `limits`, then the KV pool: num_blocks > 0 takes that many, else as
  // many as fit in memory_utilization of the card's memory. Returns the block count.
  int32_t allocate(const DecoderLimits& limits, int32_t num_blocks, double memory_utilization);
  // Records one CUDA graph per decode batch-size bucket up to max_num_seqs; steps where every
  // sequence computes one token replay the smallest bucket that holds them. A TP rank's capture
  // runs the group's all-reduces (every rank must capture at the same time) and needs a
  // capturable communicator (std::logic_error otherwise; graphs_capturable() says beforehand).
  void capture_decode_graphs();
  bool graphs_capturable() const;
  // Times cuBLASLt algorithms for each layer projection at every decode bucket of two rows or
  // more and at the largest step, keeping the fastest (call before capturing graphs): the
  // heuristic's first eight, and from 128 rows on every tile size they take. Measured on an H100,
  // it saves ~14 us a layer at 256 rows. Returns the shapes where timing beat the heuristic's
  // first choice, of those tried. `cached`: what tuned_gemms() gave on an earlier start under the
  // same gemm_tuning_key(); its shapes are taken as they are, not timed again.
  struct GemmTuning {
    int shapes = 0, improved = 0;
    int from_cache = 0;                  // shapes whose choice came from `cached`
    double saved_us_largest_bucket = 0;  // per step, all layers, at the largest decode bucket (timed ones)
  };
  GemmTuning tune_gemms(const std::string& cached = {});
  std::string tuned_gemms() const;      // every tuned choice, as text for a cache file
  std::string gemm_tuning_key() const;  // what a cache of it is valid for: cuBLASLt version and GPU

  // Launches one step on the stream and returns; logits() then holds [logit_tokens.size(),
  // vocab] fp32 on the device, in stream order. The step may be launched while the one before
  // still runs: its inputs are staged once that one's are on the device.
  void forward(const DecoderStep& step);

  // Profiling (off unless enabled; step_timer.h): call end_step_timing() after a step's last
  // work is queued (its results' copy back) and keep the ticket; step_timing(ticket) then waits
  // for that step and tells its host staging, device time and the GPU's idle time before it.
  void enable_step_timing();
  int end_step_timing();  // -1 when timing is off
  StepTiming step_timing(int ticket) const;
  const float* logits() const;        // device pointer; null on a stage before the last
  // A stage before the last: copies the step's output, [T, hidden] fp32 (the residual stream after
  // its layers, as bf16 values), to `host` and waits for it.
  void copy_hidden_out(float* host, int64_t tokens) const;
  float* logits_mut();                // the sampler applies penalties in place
  void* stream() const;               // the cudaStream_t every launch goes to
  void copy_logits(float* host, int64_t rows) const;  // synchronizes

  int32_t block_table_width() const;  // entries per block-table row: max_context_len / block_size, rounded up
  int32_t block_size() const;         // tokens per KV block, as allocated
  int32_t num_kv_blocks() const;
  int32_t num_graphs() const;
  int64_t weight_bytes() const;
  static int64_t kv_bytes_per_block(const DecoderShape& shape, int32_t block_size);  // all layers, K and V
  const DecoderShape& shape() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace troupe::cuda

namespace troupe::cuda {
// CUDA devices this process can use (0 when the driver or the card is missing).
int device_count();
}  // namespace troupe::cuda
