#include "engine/cluster/node_config.h"

#include <algorithm>
#include <cctype>

#include "engine/cluster/toml_reader.h"

namespace troupe {
namespace {

bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; }

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string_view role_name(NodeRole role) {
  switch (role) {
    case NodeRole::Gateway: return "gateway";
    case NodeRole::Scheduler: return "scheduler";
    case NodeRole::KvManager: return "kv_manager";
    case NodeRole::Executor: return "executor";
    case NodeRole::Spare: return "spare";
  }
  return "?";
}

std::optional<NodeRole> parse_role(std::string_view name) {
  for (NodeRole r : {NodeRole::Gateway, NodeRole::Scheduler, NodeRole::KvManager, NodeRole::Executor, NodeRole::Spare})
    if (role_name(r) == name) return r;
  return std::nullopt;
}

bool NodeConfig::has(NodeRole role) const { return std::find(roles.begin(), roles.end(), role) != roles.end(); }

std::string NodeConfig::address() const {
  const std::string h = lower(host);
  return (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + std::to_string(port);
}

int32_t NodeConfig::executor_slots() const {
  if (!has(NodeRole::Executor)) return 0;
  return gpus.empty() ? executors : static_cast<int32_t>(gpus.size());
}

int32_t NodeConfig::spare_slots() const {
  if (!has(NodeRole::Spare)) return 0;
  return gpus.empty() ? executors : static_cast<int32_t>(gpus.size());
}

std::string parse_host_port(std::string_view address, std::string& host, uint16_t& port) {
  std::string_view port_text;
  if (!address.empty() && address.front() == '[') {  // [v6]:port
    const size_t close = address.find(']');
    if (close == std::string_view::npos) return "no ']' closing the IPv6 address";
    host = std::string(address.substr(1, close - 1));
    if (close + 1 >= address.size() || address[close + 1] != ':') return "expected ':PORT' after ']'";
    port_text = address.substr(close + 2);
    const bool v6_chars = std::all_of(host.begin(), host.end(), [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
    });
    if (host.empty() || !v6_chars) return "'" + host + "' is not an IPv6 address";
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) return "expected HOST:PORT";
    host = std::string(address.substr(0, colon));
    port_text = address.substr(colon + 1);
    if (host.empty()) return "the host is empty";
    if (host.find(':') != std::string::npos) return "an IPv6 address goes in brackets, e.g. [::1]:4300";
    if (!std::all_of(host.begin(), host.end(), [](char c) { return is_name_char(c) && c != '_'; }))
      return "'" + host + "' is not a host name or IPv4 address";
  }
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return "the port '" + std::string(port_text) + "' is not a number";
  const int p = std::stoi(std::string(port_text));
  // Port 0 means "any free port" to a listener, which no other node could then find.
  if (p < 1 || p > 65535) return "the port must be 1 to 65535";
  port = static_cast<uint16_t>(p);
  return {};
}

NodeConfig read_node(const TomlTable& t) {
  NodeConfig n;
  n.line = t.line();
  n.name = t.required_string("name");
  if (!std::all_of(n.name.begin(), n.name.end(), is_name_char))
    t.fail("name", "'" + n.name + "': use letters, digits, '-', '_' and '.' (it is given to `troupe node --name`)");

  const std::string address = t.required_string("address");
  if (std::string why = parse_host_port(address, n.host, n.port); !why.empty())
    t.fail("address", "'" + address + "': " + why);

  if (!t.has("roles")) t.fail_table("missing key 'roles' (any of: " + std::string(kKnownRoles) + ")");
  const std::vector<std::string> roles = t.string_list("roles");
  if (roles.empty()) t.fail("roles", std::string("a node needs at least one role (") + kKnownRoles + ")");
  for (const std::string& name : roles) {
    const std::optional<NodeRole> role = parse_role(name);
    if (!role) t.fail("roles", "unknown role '" + name + "' (known: " + kKnownRoles + ")");
    if (n.has(*role)) t.fail("roles", "role '" + name + "' is listed twice");
    n.roles.push_back(*role);
  }

  if (n.has(NodeRole::Spare) && n.roles.size() > 1)
    t.fail("roles", "a spare plays no other role (it takes over an executor node's shards when that node is lost)");

  n.has_executors_key = t.has("executors");
  n.has_gpus_key = t.has("gpus");
  if (n.has_executors_key && n.has_gpus_key)
    t.fail("gpus", "give executors (CPU executors) or gpus (GPU ids), not both");
  if ((n.has_executors_key || n.has_gpus_key) && !n.has(NodeRole::Executor) && !n.has(NodeRole::Spare))
    t.fail(n.has_gpus_key ? "gpus" : "executors", "the node has no executor role (add \"executor\" to roles)");
  if (t.has("preload") && !n.has(NodeRole::Spare)) t.fail("preload", "only a spare preloads (roles = [\"spare\"])");
  n.preload = t.bool_or("preload", false);
  n.executors = static_cast<int32_t>(t.int_or("executors", 0, 1, 4096));
  for (int64_t id : t.int_list("gpus", 0, 1023)) {
    if (std::find(n.gpus.begin(), n.gpus.end(), id) != n.gpus.end())
      t.fail("gpus", "GPU " + std::to_string(id) + " is listed twice");
    n.gpus.push_back(static_cast<int32_t>(id));
  }
  if (n.has_gpus_key && n.gpus.empty()) t.fail("gpus", "lists no GPU (leave out the executor role instead)");
  return n;
}

}  // namespace troupe
