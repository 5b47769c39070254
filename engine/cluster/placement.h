#pragma once
// Placement: where every executor of a cluster goes and what it holds — a pure function of the
// cluster file and the model's config.json, printed by `troupe plan` and (later) at start.
//
// Rules:
// - data_parallel replicas, each a whole tp x pp group of its own. Every replica's stages are
//   numbered together, replica-major: global stage = replica * pp + stage, and executors
//   stage-major: global rank = global stage * tp + tp rank. Nodes key the shards and stage
//   executors they hold by these numbers, so several replicas' stages may share a node.
//   With one replica both are the plain stage and rank numbers.
// - Layers: pp contiguous ranges of sizes differing by at most one. The extra layers go to the
//   stages before the last, from the second-to-last backwards (vLLM's get_pp_indices, so layer
//   ranges match vLLM's): the last stage also runs the final norm, lm_head and sampling.
// - Stage 0 holds the embedding; the last stage the final norm and lm_head. Tied embeddings: the
//   embedding matrix is the lm_head — with pp > 1 the last stage holds its own copy of it.
// - Nodes: each stage in turn (replica 0's stages first) takes tp free executors on the first node (config order) that has
//   that many, so TP traffic (an all-reduce per layer) stays within a node and only PP's hidden
//   states cross nodes. Where no node has room, the stage takes the first free executors in
//   config order, and a note says its TP group spans nodes. On a node executors are taken in
//   order: CPU executor 0, 1, ... or the GPU ids as listed.
// - Inside a stage, TP rank r holds the slices tensor_shard.h describes.
// - Bytes: bf16 on cuda (2 per element), fp32 on cpu (4: the CPU path widens every weight and
//   keeps its KV cache in fp32), for weights and KV cache alike.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/cluster/cluster_config.h"
#include "engine/model/tensor_shard.h"
#include "engine/model/layer_split.h"  // split_layers
#include "engine/model/model_config.h"

namespace troupe {

struct RankPlacement {
  int32_t replica = 0;       // data-parallel replica
  int32_t stage = 0;         // pipeline stage within its replica
  int32_t rank = 0;          // tensor-parallel rank within the stage
  int32_t global_stage = 0;  // replica * pp + stage
  int32_t global_rank = 0;   // global_stage * tp + rank
  std::string node;          // the node's name
  size_t node_index = 0;     // into ClusterConfig::nodes
  int32_t device = 0;        // CPU executor index on the node, or the GPU id
  IndexRange layers;         // decoder layers [begin, end)
  TpShard shard;             // query / KV heads, intermediate and vocabulary slices
  bool embedding = false;    // stage 0
  bool final_norm = false;   // last stage
  bool lm_head = false;      // last stage: it computes the logits
  bool lm_head_is_embedding = false;  // tied: that lm_head is the embedding matrix (a copy when pp > 1)
  int64_t weight_bytes = 0;
  int64_t kv_bytes_per_token = 0;  // K and V, its layers, its KV heads
  int64_t kv_bytes_per_block = 0;  // kv_bytes_per_token * block_size
};

struct Placement {
  ClusterDevice device = ClusterDevice::Cpu;
  int32_t data_parallel = 1, tensor_parallel = 1, pipeline_parallel = 1;
  int64_t bytes_per_element = 4;  // weights and KV cache
  int32_t block_size = 16;
  std::vector<IndexRange> stage_layers;  // [stage]
  std::vector<RankPlacement> ranks;      // in global-rank order (one replica's: see replica())
  std::vector<std::string> notes;        // what a person should know (replication, spans, ties)

  // The rank of the first replica `ranks` holds (replica 0's, or the one replica() kept).
  const RankPlacement& at(int32_t stage, int32_t rank) const {
    return ranks[static_cast<size_t>(stage * tensor_parallel + rank)];
  }
  // This placement with replica i's ranks only (global numbers kept): what one replica's launch
  // and recovery act on, leaving the other replicas serving.
  Placement replica(int32_t i) const;
  int64_t total_weight_bytes() const;
  int64_t total_kv_bytes_per_token() const;
  // The KV blocks the cluster's one pool can have when every executor may spend `bytes` on its
  // cache: each holds its stage's layers and its KV heads only, so the executor with the most
  // per block decides. tp ranks of a stage together hold tp x the tokens one device would.
  int32_t kv_blocks_within(double bytes) const;
};

// The layers of each stage come from split_layers (engine/model/layer_split.h, vLLM's way, see
// above), which the one-process pipeline (--pipeline-parallel) uses too.

int64_t bytes_per_element(ClusterDevice device);

// Throws ConfigError (validate_model_fit) when the model cannot be split as the file asks.
Placement place(const ClusterConfig& config, const ModelConfig& model);

// After node `lost` (an index into config.nodes) did not come back: `placement` with every rank
// it held moved to the first spare (roles = ["spare"], config order) that holds no rank yet and
// has as many executors as it held, taking the spare's executors (or GPU ids) in order; layers
// and shards stay as they were. nullopt when no such spare is left. A pure function, as place().
struct SpareMove {
  Placement placement;
  size_t spare = 0;  // the spare that took the ranks
};
std::optional<SpareMove> move_to_spare(const ClusterConfig& config, const Placement& placement, size_t lost);

// The executor (CPU index, or GPU id) of `spare` that takes rank `global_rank` when the ranks of
// its node in `placement` move there: that node's k-th rank takes the spare's k-th executor.
int32_t spare_device(const NodeConfig& spare, const Placement& placement, int32_t global_rank);

// How many ranks node `node` (an index into config.nodes) holds in `placement`.
int32_t ranks_on(const Placement& placement, size_t node);

// The nodes holding some rank of `placement`, in config order.
std::vector<size_t> placed_nodes(const Placement& placement);

}  // namespace troupe
