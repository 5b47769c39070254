#pragma once
// Options every command that loads a model shares (--model, --load-format, --threads), and the
// load itself with progress on stderr.
#include <cstdint>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>

#include "actors/engine_topology.h"
#include "cli/engine_options.h"
#include "engine/metrics/server_metrics.h"
#include "engine/model_folder.h"
#include "engine/runtime/model_backend.h"

namespace troupe::cli {

struct ModelOptions {
  std::string model;            // a Hugging Face folder
  std::string load_format = "auto";
  uint64_t dummy_seed = 0;
  int threads = 0;              // 0: every core
  std::string device = "auto";  // auto: cuda when a GPU is visible, else cpu
  double gpu_memory_utilization = 0.9;
  bool no_cuda_graphs = false;
  bool no_gemm_tuning = false;
  std::string gemm_tuning_cache;  // file; "none": no cache
  int64_t max_model_len = 0;      // --max-model-len (serve): the context, at most the model's; 0: the model's
  bool batch_invariant = false;   // --batch-invariant: CPU GEMMs whose rows do not depend on the batch
};

void add_model_options(CLI::App& cmd, ModelOptions& o, bool model_required);

// Whether load_model puts the model on the CUDA backend (--device, or auto with a GPU visible).
bool uses_gpu(const ModelOptions& o);

struct LoadedModel {
  ModelFolder folder;
  std::shared_ptr<ModelBackend> backend;  // null when the weights live in another process; with
                                          // --pipeline-parallel the stages run in turn on the
                                          // caller's thread (one --prompt, LocalEngine)
  std::vector<std::shared_ptr<ModelBackend>> stages;  // --pipeline-parallel > 1: one backend per
                                                      // stage, for the stage executors; else empty
  std::vector<std::shared_ptr<ModelBackend>> replicas;  // --data-parallel > 1: one whole model per
                                                        // replica (backend is replica 0's); else empty
};

// Opens the folder and (unless weights is false: the model runs in another process) loads the
// weights onto the chosen device, logging what it does. A GPU sizes its activations from
// `engine`'s step limits and its KV pool from memory. Throws LoadError, or std::runtime_error
// for a device that cannot be used.
LoadedModel load_model(const ModelOptions& o, const EngineOptions& engine, bool weights = true);

// Throws std::invalid_argument naming the flags for a --data-parallel-size this build cannot run
// (with --executor, --tensor-parallel or --pipeline-parallel).
void check_data_parallel(const EngineOptions& engine);

// Starts the actors over what load_model loaded: a pipeline's stage executors, one executor,
// data-parallel replicas (one engine each, one kv_manager), or the scheduler of an executor in a
// `troupe node` (--executor).
EngineActors start_loaded_engine(caf::actor_system& sys, const LoadedModel& m, const EngineOptions& o,
                                 const SchedulerConfig& config, std::shared_ptr<ServerMetrics> metrics = nullptr);

// The folder the README's demo uses when no --model is given (built by scripts/fetch_test_data.sh).
std::string demo_model_dir();

}  // namespace troupe::cli
