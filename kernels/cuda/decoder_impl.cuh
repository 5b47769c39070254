#pragma once
// The state behind Decoder (decoder.h), shared by the files that implement it: decoder.cu (the
// step: allocation, forward, graphs) and decoder_weights.cu (construction, weight upload, dummy
// weights). Internal to kernels/cuda.
#include <map>
#include <memory>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "comm/device_communicator.h"  // the TP group's all-reduce
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/decoder.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/step_timer.h"

namespace troupe::cuda {

using bf16 = __nv_bfloat16;

struct LayerParams {
  bf16 *input_norm = nullptr, *qkv = nullptr, *qkv_bias = nullptr, *o = nullptr, *o_bias = nullptr;
  bf16 *post_norm = nullptr, *gate_up = nullptr, *gate_up_bias = nullptr, *down = nullptr, *down_bias = nullptr;
};

struct Decoder::Impl {
  DecoderShape shape;
  int device = 0;
  cudaStream_t stream = nullptr;
  std::unique_ptr<Gemm> gemm;
  DeviceCommunicator* tp = nullptr;  // the TP group (of one, possibly), or null
  std::vector<void*> allocations;
  int64_t weight_bytes = 0;

  bf16 *embed = nullptr, *final_norm = nullptr, *lm_head = nullptr;  // null where another stage holds them
  std::vector<LayerParams> layers;
  float* inv_freq = nullptr;

  DecoderLimits limits;
  int32_t table_width = 0;
  bool allocated = false;
  bf16 *residual = nullptr, *normed = nullptr, *delta = nullptr, *qkv = nullptr, *attn = nullptr;
  bf16 *gate_up = nullptr, *act = nullptr, *last_hidden = nullptr;
  float* logits = nullptr;     // [max_num_seqs, vocab]; the last stage only
  float* hidden_io = nullptr;  // [max_num_tokens, hidden] fp32: a later stage's input, an earlier one's output
  void* attn_workspace = nullptr;
  size_t attn_workspace_bytes = 0;
  // Step inputs: one pinned host buffer and its device twin with the same fixed regions, so a
  // step is one host-to-device copy and captured graphs read fixed addresses.
  int32_t* host_inputs = nullptr;
  int32_t* dev_inputs = nullptr;
  int64_t off_tokens = 0, off_positions = 0, off_slots = 0, off_query_start = 0, off_context = 0, off_logit = 0,
          off_deferred = 0, off_tables = 0, input_ints = 0;
  // Recorded after a step's inputs are copied: the next step rewrites host_inputs only once they
  // are (with the step before still running, its copy may not have started).
  cudaEvent_t staged = nullptr;
  bool staged_pending = false;
  std::vector<uint8_t> deferred_mask;  // [max_num_tokens], validation's scratch
  bf16* k_cache = nullptr;  // [layers, num_blocks, block_size, kv_heads, head_dim]
  bf16* v_cache = nullptr;
  int32_t num_blocks = 0;
  std::map<int32_t, cudaGraphExec_t> graphs;  // batch bucket -> decode graph
  std::unique_ptr<StepTimer> timer;  // enable_step_timing

  template <typename T>
  T* alloc(int64_t count) {
    void* p = nullptr;
    TROUPE_CUDA_CHECK(cudaMalloc(&p, static_cast<size_t>(count) * sizeof(T)));
    allocations.push_back(p);
    return static_cast<T*>(p);
  }
  bf16* alloc_weight(int64_t count) {
    weight_bytes += count * static_cast<int64_t>(sizeof(bf16));
    return alloc<bf16>(count);
  }

  int64_t q_size() const { return shape.heads * shape.head_dim; }
  int64_t kv_size() const { return shape.kv_heads * shape.head_dim; }
  int64_t qkv_stride() const { return q_size() + 2 * kv_size(); }
  int64_t layer_kv_elems() const { return int64_t{num_blocks} * limits.block_size * kv_size(); }

  const int32_t* in(int64_t offset) const { return dev_inputs + offset; }
  // A row-parallel layer's bias (o, down): rank 0 adds it to its partial product, so the sum holds
  // it once.
  bf16* row_parallel_bias(bf16* bias) const { return shape.shard.rank == 0 ? bias : nullptr; }
  // Sums a row-parallel product's partials [rows, hidden] over the TP group, on the stream.
  void all_reduce_hidden(bf16* x, int64_t rows) {
    if (tp) tp->all_reduce_sum(x, rows * shape.hidden, DeviceDType::BF16, stream);
  }
  struct Target {
    bf16* ptr;
    int64_t numel;
  };
  Target target(Weight w, int64_t layer);
  // n_single: the leading sequences with one query token each (attention by the decode kernel);
  // max_q_len: the longest query among the others.
  void run_layers(int32_t n_tokens, int32_t n_seqs, int32_t n_logits, bool decode, int32_t n_single,
                  int32_t max_q_len);
  void stage(const DecoderStep& step, int32_t padded_seqs);
  void stage_hidden_in(const float* host, int32_t tokens);  // a stage after the first: its input
};

}  // namespace troupe::cuda
