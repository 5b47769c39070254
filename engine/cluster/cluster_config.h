#pragma once
// ClusterConfig: one TOML file describes the whole cluster — the model and how it is split
// (data_parallel replicas of tensor_parallel x pipeline_parallel), the scheduler's settings, the HTTP server, and every
// node with its address, roles and executors. The same file is given to every node. Parsing
// checks everything that needs no model: the schema (unknown keys are errors), types, ranges,
// roles, addresses, names, and that the executors offered equal dp x tp x pp. What needs the model's
// config.json (layers, heads) is checked by validate_model_fit (model_fit.h). config/README.md
// documents every key and default.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/cluster/config_error.h"
#include "engine/cluster/node_config.h"
#include "engine/cluster/server_section.h"
#include "engine/routing/replica_router.h"
#include "engine/scheduler/scheduler_settings.h"

namespace troupe {

enum class ClusterDevice { Cpu, Cuda };

std::string_view device_name(ClusterDevice device);  // "cpu", "cuda"

// [model]
struct ModelSection {
  std::string path;                  // a model folder (relative paths: from the file's folder) or a preset name
  std::string load_format = "auto";  // "auto" | "safetensors" | "dummy", as --load-format
  uint64_t dummy_seed = 0;
  ClusterDevice device = ClusterDevice::Cpu;  // absent: cuda when a node lists gpus, else cpu
  int32_t tensor_parallel = 1;
  int32_t pipeline_parallel = 1;
  // Whole replicas of the model, each its own tensor_parallel x pipeline_parallel group of
  // executors and its own scheduler, behind the head's one gateway and kv_manager (as serve's
  // --data-parallel-size); data_parallel_policy picks a request's replica (--data-parallel-policy).
  int32_t data_parallel = 1;
  RoutingPolicy data_parallel_policy = RoutingPolicy::CacheAware;
  bool batch_invariant = false;  // as serve's --batch-invariant (CPU executors only)
  // vLLM's model arguments, as serve's flags of the same names (engine/model/model_args.h holds
  // their rules for both): the context requests are held to (0: the model's; load_cluster_model
  // applies it), the compute and KV cache dtypes and the quantization this build can honour, and
  // every GPU step eager (no CUDA graphs) on cuda nodes.
  int64_t max_model_len = 0;
  std::string dtype = "auto";
  std::string kv_cache_dtype = "auto";
  std::string quantization;  // empty: none
  bool enforce_eager = false;
};

// A [cluster] bound in seconds (a TOML number) as the duration the waits take.
inline std::chrono::milliseconds seconds_as_duration(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// [cluster]
struct ClusterSection {
  double join_timeout_s = 120;  // every wait while nodes join is bounded by this
  // A tensor-parallel group's connect, and each of its collectives: how long a rank waits for the
  // slowest (or a lost) rank before its step fails.
  double tp_timeout_s = 30;
  // A node that answers no heartbeat for this long is lost, as one whose connection dropped: a
  // silent partition (a cut link keeps TCP connections open) is noticed within it.
  double heartbeat_timeout_s = 15;
  // A recovery waits this long for a lost executor node's own process to come back before a spare
  // node (roles = ["spare"]) takes its shards; without a free spare it waits join_timeout_s.
  double spare_after_s = 10;
};

struct ClusterConfig {
  std::filesystem::path file;  // as given: every error names it
  ModelSection model;
  SchedulerSettings scheduler;
  ServerSection server;
  ClusterSection cluster;
  std::vector<NodeConfig> nodes;  // in file order: placement fills them in this order

  // The line of every table ("model", "node[1]") and key ("model.tensor_parallel") in the file, so
  // checks made after parsing (the model's fit) point into the file too. line_of a key the file
  // lacks is its table's line, else 0.
  std::map<std::string, int, std::less<>> lines;
  int line_of(std::string_view key) const;
  ConfigError error(std::string_view key, const std::string& what) const;

  // One replica's executors, and every replica's: what the nodes with the executor role offer.
  int32_t world_size() const { return model.tensor_parallel * model.pipeline_parallel; }
  int32_t executors_needed() const { return model.data_parallel * world_size(); }
  const NodeConfig& scheduler_node() const;  // exactly one exists once parsed
};

// Throws ConfigError (file, line, key) for anything wrong, TOML syntax included.
ClusterConfig load_cluster_config(const std::filesystem::path& file);
ClusterConfig parse_cluster_config(std::string_view toml_text, const std::filesystem::path& source);

}  // namespace troupe
