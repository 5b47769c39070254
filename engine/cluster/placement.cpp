#include "engine/cluster/placement.h"

#include <algorithm>
#include <climits>
#include <stdexcept>

#include "engine/cluster/model_fit.h"
#include "engine/model/weight_layout.h"

namespace troupe {
namespace {

struct Slot {
  size_t node = 0;
  int32_t device = 0;
};

// One slot per global rank (see the node rule in placement.h); notes a TP group that spans nodes.
std::vector<Slot> assign_slots(const ClusterConfig& c, std::vector<std::string>& notes) {
  const int32_t tp = c.model.tensor_parallel;
  std::vector<std::vector<int32_t>> free(c.nodes.size());  // devices not yet taken, per node, in order
  for (size_t i = 0; i < c.nodes.size(); ++i) {
    const NodeConfig& n = c.nodes[i];
    if (!n.has(NodeRole::Executor)) continue;
    if (!n.gpus.empty()) {
      free[i] = n.gpus;
    } else {
      for (int32_t e = 0; e < n.executors; ++e) free[i].push_back(e);
    }
  }
  std::vector<Slot> slots;
  const int32_t pp = c.model.pipeline_parallel;
  for (int32_t stage = 0; stage < c.model.data_parallel * pp; ++stage) {  // global stages
    size_t node = 0;
    while (node < free.size() && free[node].size() < static_cast<size_t>(tp)) ++node;
    if (node < free.size()) {
      for (int32_t r = 0; r < tp; ++r) slots.push_back({node, free[node][static_cast<size_t>(r)]});
      free[node].erase(free[node].begin(), free[node].begin() + tp);
      continue;
    }
    std::string spanned;
    for (size_t i = 0, taken = 0; i < free.size() && taken < static_cast<size_t>(tp); ++i) {
      if (free[i].empty()) continue;
      spanned += (spanned.empty() ? "" : ", ") + c.nodes[i].name;
      while (!free[i].empty() && taken < static_cast<size_t>(tp)) {
        slots.push_back({i, free[i].front()});
        free[i].erase(free[i].begin());
        ++taken;
      }
    }
    const std::string which = c.model.data_parallel > 1 ? "replica " + std::to_string(stage / pp) + " stage " +
                                                                std::to_string(stage % pp)
                                                          : "stage " + std::to_string(stage);
    notes.push_back(which + "'s tensor-parallel group spans nodes " + spanned +
                    ": no node has " + std::to_string(tp) + " free executors, so its all-reduces cross the network");
  }
  return slots;
}

int64_t held_weight_elements(const ModelConfig& m, const std::vector<WeightPart>& layout, const RankPlacement& r) {
  int64_t elements = 0;
  for (const WeightPart& part : layout) {
    bool held = false;
    switch (part.kind) {
      case WeightKind::Embed: held = r.embedding || r.lm_head_is_embedding; break;
      case WeightKind::FinalNorm: held = r.final_norm; break;
      case WeightKind::LmHead: held = r.lm_head; break;
      default: held = part.layer >= r.layers.begin && part.layer < r.layers.end; break;
    }
    if (held) elements += slice_numel(part, shard_slice(m, r.shard, part));
  }
  return elements;
}

}  // namespace

int64_t bytes_per_element(ClusterDevice device) { return device == ClusterDevice::Cuda ? 2 : 4; }

int64_t Placement::total_weight_bytes() const {
  int64_t total = 0;
  for (const RankPlacement& r : ranks) total += r.weight_bytes;
  return total;
}

int64_t Placement::total_kv_bytes_per_token() const {
  int64_t total = 0;
  for (const RankPlacement& r : ranks) total += r.kv_bytes_per_token;
  return total;
}

int32_t Placement::kv_blocks_within(double bytes) const {
  int64_t per_block = 0;
  for (const RankPlacement& r : ranks) per_block = std::max(per_block, r.kv_bytes_per_block);
  if (per_block <= 0) return 0;
  return static_cast<int32_t>(std::min<double>(bytes / static_cast<double>(per_block), INT32_MAX));
}

Placement place(const ClusterConfig& c, const ModelConfig& m) {
  Placement p;
  p.notes = validate_model_fit(c, m);
  p.device = c.model.device;
  p.data_parallel = c.model.data_parallel;
  p.tensor_parallel = c.model.tensor_parallel;
  p.pipeline_parallel = c.model.pipeline_parallel;
  p.bytes_per_element = bytes_per_element(p.device);
  p.block_size = c.scheduler.block_size;
  p.stage_layers = split_layers(m.num_layers, p.pipeline_parallel);
  const std::vector<Slot> slots = assign_slots(c, p.notes);
  const std::vector<WeightPart> layout = weight_layout(m);
  const int32_t last = p.pipeline_parallel - 1;
  for (int32_t replica = 0; replica < p.data_parallel; ++replica) {
    for (int32_t stage = 0; stage <= last; ++stage) {
      for (int32_t rank = 0; rank < p.tensor_parallel; ++rank) {
        RankPlacement r;
        r.replica = replica;
        r.stage = stage;
        r.rank = rank;
        r.global_stage = replica * p.pipeline_parallel + stage;
        r.global_rank = r.global_stage * p.tensor_parallel + rank;
        const Slot& slot = slots[static_cast<size_t>(r.global_rank)];
        r.node_index = slot.node;
        r.node = c.nodes[slot.node].name;
        r.device = slot.device;
        r.layers = p.stage_layers[static_cast<size_t>(stage)];
        r.shard = tp_shard(m, p.tensor_parallel, rank);
        r.embedding = stage == 0;
        r.final_norm = stage == last;
        r.lm_head = stage == last;
        r.lm_head_is_embedding = stage == last && m.tie_word_embeddings;
        r.weight_bytes = held_weight_elements(m, layout, r) * p.bytes_per_element;
        r.kv_bytes_per_token = 2 * r.layers.size() * r.shard.kv_heads.size() * m.head_dim * p.bytes_per_element;
        r.kv_bytes_per_block = r.kv_bytes_per_token * p.block_size;
        p.ranks.push_back(std::move(r));
      }
    }
  }
  if (m.tie_word_embeddings)
    p.notes.push_back(p.pipeline_parallel == 1
                          ? "tied embeddings: the embedding matrix is also the lm_head"
                          : "tied embeddings: the last stage holds its own copy of the embedding matrix as lm_head");
  if (m.num_layers % p.pipeline_parallel != 0) {
    std::string sizes;
    for (const IndexRange& s : p.stage_layers) sizes += (sizes.empty() ? "" : ", ") + std::to_string(s.size());
    p.notes.push_back("layers per stage " + sizes +
                      ": the extra layers go to the stages before the last (vLLM's split), which also runs the "
                      "final norm, lm_head and sampling");
  }
  return p;
}

Placement Placement::replica(int32_t i) const {
  Placement one = *this;
  std::erase_if(one.ranks, [i](const RankPlacement& r) { return r.replica != i; });
  return one;
}

int32_t spare_device(const NodeConfig& spare, const Placement& placement, int32_t global_rank) {
  const auto held = std::find_if(placement.ranks.begin(), placement.ranks.end(),
                                 [&](const RankPlacement& r) { return r.global_rank == global_rank; });
  if (held == placement.ranks.end()) throw std::out_of_range("spare_device: no rank " + std::to_string(global_rank));
  const size_t holder = held->node_index;
  int32_t k = 0;
  for (const RankPlacement& r : placement.ranks)
    if (r.node_index == holder && r.global_rank < global_rank) ++k;
  return spare.gpus.empty() ? k : spare.gpus.at(static_cast<size_t>(k));
}

int32_t ranks_on(const Placement& placement, size_t node) {
  return static_cast<int32_t>(std::count_if(placement.ranks.begin(), placement.ranks.end(),
                                            [&](const RankPlacement& r) { return r.node_index == node; }));
}

std::vector<size_t> placed_nodes(const Placement& placement) {
  std::vector<size_t> nodes;
  for (const RankPlacement& r : placement.ranks) nodes.push_back(r.node_index);
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  return nodes;
}

std::optional<SpareMove> move_to_spare(const ClusterConfig& config, const Placement& placement, size_t lost) {
  const std::vector<size_t> placed = placed_nodes(placement);
  const int32_t held = ranks_on(placement, lost);
  for (size_t i = 0; i < config.nodes.size(); ++i) {
    const NodeConfig& spare = config.nodes[i];
    if (!spare.has(NodeRole::Spare) || spare.spare_slots() < held) continue;
    if (std::find(placed.begin(), placed.end(), i) != placed.end()) continue;  // already standing in
    Placement moved = placement;
    for (RankPlacement& r : moved.ranks) {
      if (r.node_index != lost) continue;
      r.device = spare_device(spare, placement, r.global_rank);
      r.node_index = i;
      r.node = spare.name;
    }
    moved.notes.push_back("spare " + spare.name + " holds what " + config.nodes[lost].name + " held");
    return SpareMove{std::move(moved), i};
  }
  return std::nullopt;
}

}  // namespace troupe
