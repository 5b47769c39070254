#pragma once
// SchedulerSettings: the batching and KV-pool choices a person makes, before the model is known.
// It is the one source of their defaults: the `serve` / `generate` flags (cli/engine_options) and
// a cluster file's [scheduler] table (engine/cluster) both start from it, so the two never drift.
// SchedulerConfig is derived from it once the KV bytes per block are known (the pool's size).
#include <cstdint>

#include "engine/scheduler/scheduler_config.h"

namespace troupe {

struct SchedulerSettings {
  int32_t max_num_seqs = SchedulerConfig{}.max_num_seqs;
  int32_t max_num_batched_tokens = SchedulerConfig{}.max_num_batched_tokens;
  int32_t block_size = SchedulerConfig{}.block_size;
  double kv_cache_gib = 1.0;  // CPU KV pool size; a GPU fills what its memory utilization leaves
  int32_t num_kv_blocks = 0;  // > 0: this many blocks, whatever kv_cache_gib says
  bool no_prefix_caching = !SchedulerConfig{}.enable_prefix_caching;
  bool no_async_scheduling = !SchedulerConfig{}.async_scheduling;
  int32_t max_restarts = 3;   // respawns of a dead executor and, counted apart, of a dead scheduler
};

}  // namespace troupe
