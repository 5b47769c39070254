#pragma once
// NodeConfig: one [[node]] of a cluster file — a process with a name, an address other nodes
// reach it at, the roles it plays and the executors it offers.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe {

class TomlTable;

// Spare: a node that holds nothing until a recovery gives it the shards of an executor node that
// did not come back (placement.h: move_to_spare); it plays no other role.
enum class NodeRole { Gateway, Scheduler, KvManager, Executor, Spare };

std::string_view role_name(NodeRole role);  // "gateway", "scheduler", "kv_manager", "executor", "spare"
std::optional<NodeRole> parse_role(std::string_view name);
inline constexpr const char* kKnownRoles = "gateway, scheduler, kv_manager, executor, spare";

struct NodeConfig {
  std::string name;
  std::string host;  // as written; an IPv6 address without its brackets
  uint16_t port = 0;
  std::vector<NodeRole> roles;
  int32_t executors = 0;      // CPU executors (device cpu)
  std::vector<int32_t> gpus;  // GPU ids, in the order ranks take them (device cuda)
  bool preload = false;       // a spare: load, at start, the shards of every node it can stand in for
  bool has_executors_key = false, has_gpus_key = false;  // as written, before the device is known
  int line = 0;               // of its [[node]] header

  bool has(NodeRole role) const;
  std::string address() const;  // host:port, [host]:port for IPv6; lower-case, so equal ones compare equal
  // Executors this node offers to the placement: executors or gpus.size(); 0 without the role.
  int32_t executor_slots() const;
  // Executors a spare can take over (executors or gpus.size()); 0 for other nodes.
  int32_t spare_slots() const;
};

// "host:port" or "[v6]:port" -> host and port; an empty string when it is fine, else why not.
std::string parse_host_port(std::string_view address, std::string& host, uint16_t& port);

// Reads one [[node]] table (name, address, roles, executors / gpus, preload). Checks on its own; what
// needs the other nodes or the device is the cluster parser's.
NodeConfig read_node(const TomlTable& table);

}  // namespace troupe
