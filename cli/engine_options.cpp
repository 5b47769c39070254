#include "cli/engine_options.h"

#include <stdexcept>

#include <spdlog/spdlog.h>

#include "engine/model/kv_cache_storage.h"

namespace troupe::cli {

void add_engine_options(CLI::App& cmd, EngineOptions& o) {
  cmd.add_option("--max-num-seqs", o.max_num_seqs, "sequences running at once at most")->capture_default_str();
  cmd.add_option("--max-num-batched-tokens", o.max_num_batched_tokens, "tokens computed per step at most")
      ->capture_default_str();
  cmd.add_option("--block-size", o.block_size, "KV cache block size in tokens")->capture_default_str();
  cmd.add_option("--kv-cache-gib", o.kv_cache_gib, "memory for the KV cache on the CPU, GiB (a GPU fills what --gpu-memory-utilization leaves)")->capture_default_str();
  cmd.add_option("--num-kv-blocks", o.num_kv_blocks, "KV blocks (overrides --kv-cache-gib; 0: from memory)")
      ->capture_default_str();
  cmd.add_flag("--no-prefix-caching", o.no_prefix_caching, "do not reuse KV blocks of shared prompt prefixes");
  cmd.add_flag("--no-async-scheduling", o.no_async_scheduling,
               "plan each step only after the previous one returns (default: plan step N+1 while N runs)");
  cmd.add_option("--executor", o.executor, "HOST:PORT of a `troupe node` to run the model on (default: here)");
  cmd.add_option("--executor-reconnect-seconds", o.executor_reconnect_seconds,
                 "with --executor: how long a lost node has to come back at the same address (restarted by "
                 "whatever runs it) before its requests end with abort")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  // One number, counted apart for the executor and the scheduler (Ray's per-actor max_restarts):
  // the old name still works.
  cmd.add_option("--pipeline-parallel,--pipeline-parallel-size", o.pipeline_parallel,
                 "pipeline stages (also -pp): the layers split over that many executors in this process, working "
                 "on different batches at once: on CPU each with its share of the cores; on cuda stage s on GPU s "
                 "modulo the GPUs found, stages on one GPU sharing its --gpu-memory-utilization evenly")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_option("--tensor-parallel,--tensor-parallel-size", o.tensor_parallel,
                 "tensor-parallel ranks: each holds its share of every layer's heads and MLP (its KV heads only) "
                 "and they sum their partial outputs twice a layer; threads of this process, CPU only")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_option("--max-restarts,--max-executor-restarts", o.max_restarts,
                 "times a dead executor (its running requests recomputed) and, separately, a dead scheduler "
                 "(gateways resubmit their requests) are restarted; a lost node counts as a dead executor")
      ->capture_default_str();
}

EngineOptions engine_options_from(const SchedulerSettings& s) {
  EngineOptions o;
  o.max_num_seqs = s.max_num_seqs;
  o.max_num_batched_tokens = s.max_num_batched_tokens;
  o.block_size = s.block_size;
  o.kv_cache_gib = s.kv_cache_gib;
  o.num_kv_blocks = s.num_kv_blocks;
  o.no_prefix_caching = s.no_prefix_caching;
  o.no_async_scheduling = s.no_async_scheduling;
  o.max_restarts = s.max_restarts;
  return o;
}

SchedulerConfig make_scheduler_config(const EngineOptions& o, const ModelConfig& model, int32_t kv_capacity) {
  SchedulerConfig c;
  c.max_num_seqs = o.max_num_seqs;
  c.max_num_batched_tokens = o.max_num_batched_tokens;
  c.block_size = o.block_size;
  c.enable_prefix_caching = !o.no_prefix_caching;
  c.async_scheduling = !o.no_async_scheduling;
  c.pipeline_stages = o.pipeline_parallel;
  if (o.pipeline_parallel > 1 && !o.executor.empty())
    throw std::invalid_argument("--pipeline-parallel runs its stages in this process; it cannot be combined with --executor");
  if (o.block_size <= 0) throw std::invalid_argument("--block-size must be positive");
  if (kv_capacity > 0) {
    c.num_blocks = kv_capacity;
  } else if (o.num_kv_blocks > 0) {
    c.num_blocks = o.num_kv_blocks;
  } else {
    const double bytes = o.kv_cache_gib * (1ull << 30);
    c.num_blocks = static_cast<int32_t>(bytes / static_cast<double>(KvCacheStorage::bytes_per_block(model, o.block_size)));
    if (c.num_blocks <= 0) throw std::invalid_argument("--kv-cache-gib is too small for one KV block");
  }
  if (std::string why = c.validate(); !why.empty()) throw std::invalid_argument(why);
  if (kv_capacity == 0)
    spdlog::info("KV cache: {} blocks of {} tokens ({} tokens, {:.2f} GiB)", c.num_blocks, c.block_size,
               int64_t{c.num_blocks} * c.block_size,
               static_cast<double>(KvCacheStorage::bytes_per_block(model, c.block_size)) * c.num_blocks / (1ull << 30));
  return c;
}

}  // namespace troupe::cli
