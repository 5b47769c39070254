#include "engine/cluster/cluster_config.h"

#include "engine/cluster/toml_reader.h"
#include "engine/model/model_args.h"

namespace troupe {
namespace {

constexpr int64_t kMaxInt32 = 2147483647;

std::string node_key(size_t i, std::string_view key) { return "node[" + std::to_string(i) + "]." + std::string(key); }

ModelSection read_model(const TomlTable& t, bool& device_given) {
  ModelSection m;
  m.path = t.required_string("path");
  m.load_format = t.string_or("load_format", m.load_format);
  if (m.load_format != "auto" && m.load_format != "safetensors" && m.load_format != "dummy")
    t.fail("load_format", "'" + m.load_format + "' is not one of auto, safetensors, dummy");
  m.dummy_seed = static_cast<uint64_t>(t.int_or("dummy_seed", 0, 0, INT64_MAX));
  device_given = t.has("device");
  const std::string device = t.string_or("device", "cpu");
  if (device != "cpu" && device != "cuda") t.fail("device", "'" + device + "' is not one of cpu, cuda");
  m.device = device == "cuda" ? ClusterDevice::Cuda : ClusterDevice::Cpu;
  m.tensor_parallel = static_cast<int32_t>(t.int_or("tensor_parallel", 1, 1, 1024));
  m.pipeline_parallel = static_cast<int32_t>(t.int_or("pipeline_parallel", 1, 1, 1024));
  m.batch_invariant = t.bool_or("batch_invariant", false);
  m.data_parallel = static_cast<int32_t>(t.int_or("data_parallel", 1, 1, 1024));
  if (t.has("data_parallel_policy")) {
    const std::string policy = t.string_or("data_parallel_policy", "");
    const std::optional<RoutingPolicy> parsed = parse_routing_policy(policy);
    if (!parsed) t.fail("data_parallel_policy", "'" + policy + "' is not one of " + routing_policy_names());
    // Never ignored: with one replica there is nothing to route between.
    if (m.data_parallel == 1)
      t.fail("data_parallel_policy", "routes requests between replicas, and data_parallel is 1: set data_parallel "
                                     "above 1, or drop data_parallel_policy");
    m.data_parallel_policy = *parsed;
  }
  m.max_model_len = t.int_or("max_model_len", 0, 1, kMaxInt32);  // as --max-model-len: a positive count
  m.dtype = t.string_or("dtype", m.dtype);  // checked once the device is known (check_dtype)
  m.kv_cache_dtype = t.string_or("kv_cache_dtype", m.kv_cache_dtype);
  if (const std::string why = kv_cache_dtype_refusal(m.kv_cache_dtype); !why.empty()) t.fail("kv_cache_dtype", why);
  m.quantization = t.string_or("quantization", m.quantization);
  if (const std::string why = quantization_refusal(m.quantization); !why.empty()) t.fail("quantization", why);
  m.enforce_eager = t.bool_or("enforce_eager", false);
  return m;
}

SchedulerSettings read_scheduler(const TomlTable& t) {
  SchedulerSettings s;  // its defaults are the serve flags' defaults
  s.max_num_seqs = static_cast<int32_t>(t.int_or("max_num_seqs", s.max_num_seqs, 1, kMaxInt32));
  s.max_num_batched_tokens =
      static_cast<int32_t>(t.int_or("max_num_batched_tokens", s.max_num_batched_tokens, 1, kMaxInt32));
  s.block_size = static_cast<int32_t>(t.int_or("block_size", s.block_size, 1, 65536));
  s.kv_cache_gib = t.number_or("kv_cache_gib", s.kv_cache_gib, 0.0);
  s.num_kv_blocks = static_cast<int32_t>(t.int_or("num_kv_blocks", s.num_kv_blocks, 0, kMaxInt32));
  s.no_prefix_caching = t.bool_or("no_prefix_caching", s.no_prefix_caching);
  s.no_async_scheduling = t.bool_or("no_async_scheduling", s.no_async_scheduling);
  s.max_restarts = static_cast<int32_t>(t.int_or("max_restarts", s.max_restarts, 0, kMaxInt32));
  // The scheduler's own rule (SchedulerConfig::validate): every running decode fits in one step.
  if (s.max_num_batched_tokens < s.max_num_seqs)
    t.fail(t.has("max_num_batched_tokens") ? "max_num_batched_tokens" : "max_num_seqs",
           "max_num_batched_tokens (" + std::to_string(s.max_num_batched_tokens) + ") must be >= max_num_seqs (" +
               std::to_string(s.max_num_seqs) + "): every running decode must fit in one step");
  return s;
}

ServerSection read_server(const TomlTable& t) {
  ServerSection s;
  s.host = t.string_or("host", s.host);
  if (s.host.empty()) t.fail("host", "must not be empty");
  s.port = static_cast<uint16_t>(t.int_or("port", s.port, 0, 65535));
  if (t.has("served_model_name")) {
    s.served_model_name = t.string_list("served_model_name");
    if (s.served_model_name.empty()) t.fail("served_model_name", "names no model: give at least one name");
  }
  if (t.has("api_key"))
    t.fail("api_key", "a key written in the cluster file is read by whoever reads the file: put it in a file named "
                      "by api_key_file, or in $TROUPE_API_KEY");
  s.api_key_file = t.string_or("api_key_file", "");
  s.metrics_need_api_key = t.bool_or("metrics_need_api_key", false);
  s.max_queue_depth = t.int_or("max_queue_depth", s.max_queue_depth, 0, INT64_MAX);
  s.request_timeout_s = t.int_or("request_timeout_s", 0, 0, 365 * 24 * 3600);
  if (t.has("seed")) s.seed = static_cast<uint64_t>(t.int_or("seed", 0, 0, INT64_MAX));
  s.metrics_prefix = t.string_or("metrics_prefix", s.metrics_prefix);
  if (!is_metrics_prefix(s.metrics_prefix))
    t.fail("metrics_prefix", "'" + s.metrics_prefix + "' is not a Prometheus name part (letters, digits and _, not "
                             "starting with a digit)");
  // What names a file or folder is read on the head only (cli/cluster_serving): a worker need not have it.
  s.chat_template = t.string_or("chat_template", "");
  if (t.has("chat_template") && s.chat_template.empty())
    t.fail("chat_template", "is empty: leave the key out for tokenizer_config.json's template");
  s.trust_request_chat_template = t.bool_or("trust_request_chat_template", false);
  const std::string policy = t.string_or("scheduling_policy", "fcfs");
  if (policy != "fcfs" && policy != "priority") t.fail("scheduling_policy", "'" + policy + "' is not one of fcfs, priority");
  s.priority_scheduling = policy == "priority";
  s.generation_config = t.string_or("generation_config", s.generation_config);
  if (s.generation_config.empty()) t.fail("generation_config", "must not be empty (auto, vllm or a folder)");
  s.override_generation_config = t.string_or("override_generation_config", "");
  // serve's ranges for the flags of the same names.
  s.http_threads = t.int_or("http_threads", s.http_threads, 1, 1024);
  s.max_connections = t.int_or("max_connections", s.max_connections, 1, int64_t{1} << 20);
  s.max_connections_per_client = t.int_or("max_connections_per_client", s.max_connections_per_client, 0, int64_t{1} << 20);
  s.header_timeout_s = t.int_or("header_timeout_s", s.header_timeout_s, 1, 86400);
  s.keep_alive_timeout_s = t.int_or("keep_alive_timeout_s", s.keep_alive_timeout_s, 1, 86400);
  s.shutdown_timeout_s = t.int_or("shutdown_timeout_s", s.shutdown_timeout_s, 1, 86400);
  return s;
}

// Settles the device of nodes that did not say (cpu: one executor), refuses executors / gpus
// that do not match the device.
void check_node_devices(ClusterConfig& c, bool device_given) {
  const auto cuda_hint = device_given ? "model.device is \"cuda\"" : "a node lists gpus, so the device is cuda";
  for (size_t i = 0; i < c.nodes.size(); ++i) {
    NodeConfig& n = c.nodes[i];
    if (c.model.device == ClusterDevice::Cpu) {
      if (n.has_gpus_key)
        throw c.error(node_key(i, "gpus"), "GPU ids on a cpu cluster (model.device is \"cpu\"): give executors = N");
      if ((n.has(NodeRole::Executor) || n.has(NodeRole::Spare)) && !n.has_executors_key) n.executors = 1;
    } else {
      if (n.has_executors_key)
        throw c.error(node_key(i, "executors"), std::string("counts CPU executors, but ") + cuda_hint +
                                                    ": list the GPU ids instead, e.g. gpus = [0, 1]");
      if ((n.has(NodeRole::Executor) || n.has(NodeRole::Spare)) && !n.has_gpus_key)
        throw c.error("node[" + std::to_string(i) + "]",
                      "missing key 'gpus' (a cuda node with the executor or spare role lists its GPU ids)");
    }
  }
}

void check_unique_names_and_addresses(const ClusterConfig& c) {
  for (size_t i = 0; i < c.nodes.size(); ++i)
    for (size_t j = 0; j < i; ++j) {
      const NodeConfig &a = c.nodes[j], &b = c.nodes[i];
      const std::string other = "node[" + std::to_string(j) + "] (line " + std::to_string(a.line) + ")";
      if (a.name == b.name) throw c.error(node_key(i, "name"), "'" + b.name + "' is also the name of " + other);
      if (a.address() == b.address())
        throw c.error(node_key(i, "address"), "'" + b.address() + "' is also the address of " + other + " '" + a.name + "'");
    }
}

// Exactly one scheduler and one kv_manager (it mirrors that scheduler's pool); at least one
// gateway, anywhere: a gateway reaches the scheduler by actor messages, across nodes if need be.
void check_roles(const ClusterConfig& c) {
  for (NodeRole role : {NodeRole::Scheduler, NodeRole::KvManager}) {
    int first = -1;
    for (size_t i = 0; i < c.nodes.size(); ++i) {
      if (!c.nodes[i].has(role)) continue;
      if (first >= 0)
        throw c.error(node_key(i, "roles"), "a second node with the " + std::string(role_name(role)) + " role (node[" +
                                                std::to_string(first) + "] '" + c.nodes[first].name +
                                                "' has it; exactly one node must)");
      first = static_cast<int>(i);
    }
    if (first < 0) throw c.error("node", "no node has the " + std::string(role_name(role)) + " role (exactly one must)");
  }
  bool gateway = false;
  for (const NodeConfig& n : c.nodes) gateway = gateway || n.has(NodeRole::Gateway);
  if (!gateway) throw c.error("node", "no node has the gateway role (at least one must serve HTTP)");
}

void check_executor_count(const ClusterConfig& c) {
  const int32_t dp = c.model.data_parallel;
  int32_t offered = 0;
  std::string per_node;
  for (const NodeConfig& n : c.nodes) {
    if (!n.has(NodeRole::Executor)) continue;
    offered += n.executor_slots();
    per_node += (per_node.empty() ? "" : ", ") + n.name + ": " + std::to_string(n.executor_slots());
  }
  if (offered == c.executors_needed()) return;
  const std::string key = dp > 1                                    ? "model.data_parallel"
                          : c.lines.count("model.pipeline_parallel") ? "model.pipeline_parallel"
                                                                     : "model.tensor_parallel";
  throw c.error(key, std::string(dp > 1 ? "data_parallel x " : "") + "tensor_parallel x pipeline_parallel = " +
                         (dp > 1 ? std::to_string(dp) + " x " : "") + std::to_string(c.model.tensor_parallel) + " x " +
                         std::to_string(c.model.pipeline_parallel) + " = " + std::to_string(c.executors_needed()) +
                         " executors, but the nodes with the executor role offer " + std::to_string(offered) +
                         (per_node.empty() ? "" : " (" + per_node + ")"));
}

}  // namespace

std::string_view device_name(ClusterDevice device) { return device == ClusterDevice::Cuda ? "cuda" : "cpu"; }

int ClusterConfig::line_of(std::string_view key) const {
  for (std::string k(key);;) {
    if (auto it = lines.find(k); it != lines.end()) return it->second;
    const size_t dot = k.rfind('.');
    if (dot == std::string::npos) return 0;
    k.resize(dot);
  }
}

ConfigError ClusterConfig::error(std::string_view key, const std::string& what) const {
  return ConfigError(file, line_of(key), std::string(key), what);
}

const NodeConfig& ClusterConfig::scheduler_node() const {
  for (const NodeConfig& n : nodes)
    if (n.has(NodeRole::Scheduler)) return n;
  throw error("node", "no node has the scheduler role");
}

ClusterConfig parse_cluster_config(std::string_view text, const std::filesystem::path& source) {
  const toml::table root = parse_toml(text, source);
  ClusterConfig c;
  c.file = source;
  const TomlTable top(root, "", source, {"model", "scheduler", "server", "cluster", "node"});
  top.record_lines(c.lines);

  const toml::table* model = top.table("model");
  if (model == nullptr) throw ConfigError(source, 0, "model", "missing table [model] (path, tensor_parallel, ...)");
  bool device_given = false;
  const TomlTable m(*model, "model", source,
                    {"path", "load_format", "dummy_seed", "device", "tensor_parallel", "pipeline_parallel", "data_parallel",
                     "data_parallel_policy", "batch_invariant", "max_model_len", "dtype", "kv_cache_dtype",
                     "quantization", "enforce_eager"});
  m.record_lines(c.lines);
  c.model = read_model(m, device_given);
  if (const toml::table* t = top.table("scheduler")) {
    const TomlTable s(*t, "scheduler", source,
                      {"max_num_seqs", "max_num_batched_tokens", "block_size", "kv_cache_gib", "num_kv_blocks",
                       "no_prefix_caching", "no_async_scheduling", "max_restarts"});
    c.scheduler = read_scheduler(s);
  }
  if (const toml::table* t = top.table("server")) {
    const TomlTable s(*t, "server", source,
                      {"host", "port", "served_model_name", "api_key", "api_key_file", "metrics_need_api_key",
                       "max_queue_depth", "request_timeout_s", "seed", "metrics_prefix", "chat_template",
                       "trust_request_chat_template", "scheduling_policy", "generation_config",
                       "override_generation_config", "http_threads", "max_connections", "max_connections_per_client",
                       "header_timeout_s", "keep_alive_timeout_s", "shutdown_timeout_s"});
    s.record_lines(c.lines);  // the head's checks of files the keys name point at their lines
    c.server = read_server(s);
  }
  if (const toml::table* t = top.table("cluster")) {
    const TomlTable s(*t, "cluster", source, {"join_timeout_s", "tp_timeout_s", "heartbeat_timeout_s", "spare_after_s"});
    c.cluster.join_timeout_s = s.number_or("join_timeout_s", c.cluster.join_timeout_s, 0.0);
    c.cluster.tp_timeout_s = s.number_or("tp_timeout_s", c.cluster.tp_timeout_s, 0.0);
    c.cluster.heartbeat_timeout_s = s.number_or("heartbeat_timeout_s", c.cluster.heartbeat_timeout_s, 0.0);
    c.cluster.spare_after_s = s.number_or("spare_after_s", c.cluster.spare_after_s, 0.0);
  }

  const toml::array* nodes = top.table_array("node");
  if (nodes == nullptr || nodes->empty())
    throw ConfigError(source, 0, "node", "no [[node]] tables: a cluster needs at least one node");
  for (size_t i = 0; i < nodes->size(); ++i) {
    const TomlTable n(*(*nodes)[i].as_table(), "node[" + std::to_string(i) + "]", source,
                      {"name", "address", "roles", "executors", "gpus", "preload"});
    n.record_lines(c.lines);
    c.nodes.push_back(read_node(n));
  }
  if (!device_given) {
    bool any_gpus = false;
    for (const NodeConfig& n : c.nodes) any_gpus = any_gpus || n.has_gpus_key;
    c.model.device = any_gpus ? ClusterDevice::Cuda : ClusterDevice::Cpu;
  }
  if (const std::string why = dtype_refusal(c.model.dtype, c.model.device == ClusterDevice::Cuda); !why.empty())
    throw c.error("model.dtype", why);
  if (c.model.batch_invariant && c.model.device == ClusterDevice::Cuda)
    throw c.error("model.batch_invariant", "batch-invariant kernels exist for CPU executors only, and this cluster's "
                                           "device is cuda");
  check_node_devices(c, device_given);
  check_unique_names_and_addresses(c);
  check_roles(c);
  check_executor_count(c);
  return c;
}

ClusterConfig load_cluster_config(const std::filesystem::path& file) {
  return parse_cluster_config(read_config_file(file, "cluster file"), file);
}

}  // namespace troupe
