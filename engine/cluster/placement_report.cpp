#include "engine/cluster/placement_report.h"

#include <algorithm>
#include <cstdio>

namespace troupe {
namespace {

std::string range(const IndexRange& r) { return "[" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ")"; }

std::string gib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(bytes) / (1ull << 30));
  return buf;
}

std::string device_of(const Placement& p, const RankPlacement& r) {
  return std::string(device_name(p.device)) + ":" + std::to_string(r.device);
}

std::string holds(const RankPlacement& r) {
  std::string s;
  auto add = [&](const char* what) { s += (s.empty() ? "" : "+") + std::string(what); };
  if (r.embedding) add("embed");
  if (r.final_norm) add("norm");
  if (r.lm_head) add(r.lm_head_is_embedding ? "lm_head(tied)" : "lm_head");
  return s.empty() ? "-" : s;
}

const char* dtype_name(const Placement& p) { return p.device == ClusterDevice::Cuda ? "bf16" : "fp32"; }

// Pads every column to its widest cell; numbers right-aligned.
std::string aligned(const std::vector<std::vector<std::string>>& rows, size_t first_numeric) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      width.resize(std::max(width.size(), row.size()));
      width[i] = std::max(width[i], row[i].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      const std::string pad(width[i] - row[i].size(), ' ');
      line += (i ? "  " : "") + (i >= first_numeric ? pad + row[i] : row[i] + pad);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::string placement_table(const ClusterConfig& c, const ClusterModel& model, const Placement& p) {
  const ModelConfig& m = model.config;
  const std::string label = model.preset ? c.model.path + " (preset)" : model.dir.string();
  std::string out = "model " + label + ": " + m.architecture_name + ", " + std::to_string(m.num_layers) +
                    " layers, " + std::to_string(m.num_heads) + " heads, " + std::to_string(m.num_kv_heads) +
                    " KV heads\n";
  const bool dp = p.data_parallel > 1;
  out += std::string(device_name(p.device)) + ", " + dtype_name(p) + " weights and KV cache; " +
         (dp ? "data_parallel " + std::to_string(p.data_parallel) + " x " : "") + "tensor_parallel " +
         std::to_string(p.tensor_parallel) + " x pipeline_parallel " + std::to_string(p.pipeline_parallel) + " = " +
         std::to_string(p.ranks.size()) + (p.ranks.size() == 1 ? " executor" : " executors") + "; KV block " + std::to_string(p.block_size) + " tokens\n\n";
  // With replicas a column after the node says whose each executor is (rows still start with the
  // node's name); one replica's table is as before.
  std::vector<std::vector<std::string>> rows = {
      {"node", "device", "stage", "rank", "layers", "q heads", "kv heads", "holds", "weights GiB", "KV bytes/token"}};
  for (const RankPlacement& r : p.ranks)
    rows.push_back({r.node, device_of(p, r), std::to_string(r.stage), std::to_string(r.rank), range(r.layers),
                    range(r.shard.q_heads), range(r.shard.kv_heads), holds(r), gib(r.weight_bytes),
                    std::to_string(r.kv_bytes_per_token)});
  rows.push_back({"total", "", "", "", "", "", "", "", gib(p.total_weight_bytes()), std::to_string(p.total_kv_bytes_per_token())});
  if (dp) {
    rows[0].insert(rows[0].begin() + 1, "replica");
    for (size_t i = 1; i + 1 < rows.size(); ++i) rows[i].insert(rows[i].begin() + 1, std::to_string(p.ranks[i - 1].replica));
    rows.back().insert(rows.back().begin() + 1, "");
  }
  out += aligned(rows, dp ? 9 : 8);
  out += "\nKV cache per block of " + std::to_string(p.block_size) + " tokens: " +
         std::to_string(p.total_kv_bytes_per_token() * p.block_size) + " bytes over all executors";
  int64_t busiest = 0;
  for (const RankPlacement& r : p.ranks) busiest = std::max(busiest, r.kv_bytes_per_block);
  out += " (at most " + std::to_string(busiest) + " on one)\n";
  out += (dp ? std::to_string(p.data_parallel) + " schedulers (one per replica), one kv_manager and " +
                   std::string(routing_policy_name(c.model.data_parallel_policy)) + " routing on "
              : "scheduler on ") +
         c.scheduler_node().name + "; HTTP on port " + std::to_string(c.server.port) + " of";
  for (const NodeConfig& n : c.nodes)
    if (n.has(NodeRole::Gateway)) out += " " + n.name;
  out += "\n";
  if (!p.notes.empty()) {
    out += "notes:\n";
    for (const std::string& note : p.notes) out += "  - " + note + "\n";
  }
  return out;
}

nlohmann::ordered_json placement_json(const ClusterConfig& c, const ClusterModel& model, const Placement& p) {
  const ModelConfig& m = model.config;
  using json = nlohmann::ordered_json;
  auto pair = [](const IndexRange& r) { return json::array({r.begin, r.end}); };
  json ranks = json::array();
  for (const RankPlacement& r : p.ranks)
    ranks.push_back({{"global_rank", r.global_rank},
                     {"replica", r.replica},
                     {"stage", r.stage},
                     {"rank", r.rank},
                     {"node", r.node},
                     {"device", r.device},
                     {"layers", pair(r.layers)},
                     {"q_heads", pair(r.shard.q_heads)},
                     {"kv_heads", pair(r.shard.kv_heads)},
                     {"intermediate", pair(r.shard.intermediate)},
                     {"vocab", pair(r.shard.vocab)},
                     {"embedding", r.embedding},
                     {"final_norm", r.final_norm},
                     {"lm_head", r.lm_head},
                     {"lm_head_is_embedding", r.lm_head_is_embedding},
                     {"weight_bytes", r.weight_bytes},
                     {"kv_bytes_per_token", r.kv_bytes_per_token},
                     {"kv_bytes_per_block", r.kv_bytes_per_block}});
  json nodes = json::array();
  for (const NodeConfig& n : c.nodes) {
    json roles = json::array();
    for (NodeRole role : n.roles) roles.push_back(std::string(role_name(role)));
    nodes.push_back({{"name", n.name}, {"address", n.address()}, {"roles", roles}, {"executors", n.executor_slots()}});
  }
  return {{"model",
           {{"path", c.model.path},
            {"dir", model.dir.string()},
            {"preset", model.preset},
            {"architecture", m.architecture_name},
            {"layers", m.num_layers},
            {"heads", m.num_heads},
            {"kv_heads", m.num_kv_heads},
            {"head_dim", m.head_dim},
            {"tie_word_embeddings", m.tie_word_embeddings}}},
          {"device", std::string(device_name(p.device))},
          {"dtype", dtype_name(p)},
          {"data_parallel", p.data_parallel},
          {"data_parallel_policy", std::string(routing_policy_name(c.model.data_parallel_policy))},
          {"tensor_parallel", p.tensor_parallel},
          {"pipeline_parallel", p.pipeline_parallel},
          {"block_size", p.block_size},
          {"ranks", ranks},
          {"nodes", nodes},
          {"totals",
           {{"weight_bytes", p.total_weight_bytes()},
            {"kv_bytes_per_token", p.total_kv_bytes_per_token()},
            {"kv_bytes_per_block", p.total_kv_bytes_per_token() * p.block_size}}},
          {"notes", p.notes}};
}

}  // namespace troupe
