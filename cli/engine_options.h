#pragma once
// The continuous-batching flags `generate --prompts-file` and `serve` share, and how they become
// a SchedulerConfig (the KV pool sized from --kv-cache-gib unless --num-kv-blocks says).
#include <chrono>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/model/model_config.h"
#include "engine/scheduler/scheduler_config.h"
#include "engine/scheduler/scheduler_settings.h"

namespace troupe::cli {

// Defaults come from SchedulerSettings, which a cluster file's [scheduler] table shares.
struct EngineOptions {
  int max_num_seqs = SchedulerSettings{}.max_num_seqs;
  int max_num_batched_tokens = SchedulerSettings{}.max_num_batched_tokens;
  int block_size = SchedulerSettings{}.block_size;
  double kv_cache_gib = SchedulerSettings{}.kv_cache_gib;
  int num_kv_blocks = SchedulerSettings{}.num_kv_blocks;
  bool no_prefix_caching = SchedulerSettings{}.no_prefix_caching;
  bool no_async_scheduling = SchedulerSettings{}.no_async_scheduling;
  std::string executor;  // HOST:PORT of a `troupe node`; empty: in this process
  int max_restarts = SchedulerSettings{}.max_restarts;
  double executor_reconnect_seconds = 30;  // how long a lost `troupe node` has to come back
  int pipeline_parallel = 1;  // pipeline stages, each an executor on its own thread (CPU only)
  int tensor_parallel = 1;    // tensor-parallel ranks, threads of this process (CPU only)
  int data_parallel = 1;      // replicas behind one gateway, each a whole engine (serve only)
};

void add_engine_options(CLI::App& cmd, EngineOptions& o);

// A cluster file's [scheduler] table as the flags would have said it.
EngineOptions engine_options_from(const SchedulerSettings& s);

// Throws std::invalid_argument naming the flag when the result is not a valid configuration.
// kv_capacity > 0: the backend holds that many blocks already (a GPU sized them from memory),
// and --kv-cache-gib does not apply.
inline std::chrono::milliseconds reconnect_window(const EngineOptions& o) {
  return std::chrono::milliseconds(static_cast<int64_t>(o.executor_reconnect_seconds * 1000));
}

SchedulerConfig make_scheduler_config(const EngineOptions& o, const ModelConfig& model, int32_t kv_capacity = 0);

}  // namespace troupe::cli
