#pragma once
// The CUDA backend: the model in bf16 on one GPU (kernels/cuda/Decoder), its KV pool sized from
// the card's free memory, decode steps replayed from CUDA graphs, tokens sampled on the device.
// This header is plain C++; builds without CUDA get a make_gpu_backend() that says so.
//
// Tensor parallel: a GpuBackend may be one rank of a TP group (tp_size > 1): it holds the rank's
// slices (tensor_shard.h; embedding and LM head replicated), sums through `tp_group` after o_proj
// and down_proj, and every rank ends a step with the whole model's logits. Every rank of the group
// must run each step (and its construction, which runs steps to capture graphs) at the same time,
// one thread per rank; rank 0's sampled tokens are the group's.
//
// Pipeline parallel: a GpuBackend may hold one stage, `layers` of the model (layer_split.h): its
// layers' weights and KV cache only, the embedding on the first stage, the final norm and LM head
// on the last (with tied embeddings the last holds the embedding matrix as its head). A stage
// after the first starts from batch.hidden_states; one before the last answers forward_hidden()
// (the values come back to the host, so the next stage may sit in any process) and samples
// nothing. Every stage captures decode graphs.
#include <cstdint>
#include <memory>
#include <string>

#include "engine/model/checkpoint.h"
#include "engine/model/layer_split.h"
#include "engine/model/model_config.h"
#include "engine/model/model_weights.h"  // LoadProgress
#include "engine/runtime/model_backend.h"

namespace troupe {

class DeviceCommunicator;  // comm/device_communicator.h

struct GpuBackendOptions {
  int device = 0;
  double memory_utilization = 0.9;  // share of the card's memory this process may fill
  int32_t max_num_seqs = 256;       // step limits the activations are sized for
  int32_t max_num_batched_tokens = 2048;
  int32_t block_size = 16;
  int32_t num_blocks = 0;           // KV blocks; 0: as many as memory_utilization leaves room for
  bool cuda_graphs = true;          // capture decode graphs at start (off: every step eager)
  bool tune_gemms = true;           // time cuBLASLt's candidates per GEMM shape at start (off: its
                                    // heuristic's first choice, the same on every start)
  std::string gemm_tuning_cache;    // file keeping the timed choices between starts (gemm_tuning_cache.h);
                                    // empty: time them on every start
  int32_t tp_rank = 0, tp_size = 1;         // this rank of a tensor-parallel group of tp_size
  DeviceCommunicator* tp_group = nullptr;   // the group (not owned): needed when tp_size > 1, used at 1
                                            // too; decode graphs only when it is capturable (NCCL),
                                            // else every step runs eagerly
  LayerRange layers{};  // a pipeline stage's decoder layers; empty: all of them (the whole model)
};

// Fault drills only: poisons this process's CUDA context on `device` with a real illegal-address
// fault (kernels/cuda/poison.h) and throws DeviceContextLost; without CUDA, std::runtime_error.
void poison_cuda_context(int device);

// True when this build has CUDA and a device is visible; how many are (0 without CUDA).
bool cuda_device_available();
int cuda_device_count();

// Weights go from the checkpoint's (memory-mapped) tensors straight to the device, converted
// there: the host never holds a copy of the model. `checkpoint` null: seeded dummy weights made on
// the device (--load-format dummy). `progress` hears (tensors done, tensors in all). Throws
// LoadError for a tensor missing or misshapen, std::runtime_error naming a failed CUDA call, or
// saying the build has no CUDA.
std::shared_ptr<ModelBackend> make_gpu_backend(const ModelConfig& config, const Checkpoint* checkpoint,
                                               uint64_t dummy_seed, const GpuBackendOptions& options,
                                               const LoadProgress& progress = {});

}  // namespace troupe
