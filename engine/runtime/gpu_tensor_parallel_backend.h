#pragma once
// A GPU tensor-parallel group as one ModelBackend: rank r is a GpuBackend over its shard
// (gpu_backend.h) on devices[r], summing through group[r]. Rank 0 runs on the caller's thread;
// ranks 1.. each on a thread this backend keeps, repeating every call rank 0 gets (the one other
// place in engine/ that starts threads, beside TensorParallelBackend, and for the same reason: an
// eager step's all-reduces wait for every rank, so the ranks must step at once). Every rank
// computes the same logits bit for bit (the communicators' contract) and samples them with the
// same seeds, so every rank's sampler holds the same tokens and a pipelined step's deferred tokens
// come from each rank's own; rank 0's answers are the group's.
#include <cstdint>
#include <memory>
#include <vector>

#include "comm/device_communicator.h"
#include "engine/model/checkpoint.h"
#include "engine/model/model_config.h"
#include "engine/runtime/gpu_backend.h"

namespace troupe {

// One rank per entry of `group` (rank r: group[r], which the backend keeps alive, on devices[r]);
// `options` as for one GPU, its device and tp fields set per rank. Ranks are built at once, a
// thread each (with a capturable group, their graph captures run the collectives). Throws what
// make_gpu_backend throws, and std::invalid_argument when the model's shapes do not split over
// group.size() ranks or the group's ranks are not 0..n-1 in order.
std::shared_ptr<ModelBackend> make_gpu_tensor_parallel_backend(const ModelConfig& config, const Checkpoint* checkpoint,
                                                               uint64_t dummy_seed, const GpuBackendOptions& options,
                                                               std::vector<std::unique_ptr<DeviceCommunicator>> group,
                                                               const std::vector<int>& devices,
                                                               const LoadProgress& progress = {});

}  // namespace troupe
