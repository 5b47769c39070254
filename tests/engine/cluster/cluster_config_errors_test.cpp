// Every mistake in a cluster file is a ConfigError naming the file, the line and the key: one
// case per rule, each made by changing one line of a valid file.
#include <gtest/gtest.h>

#include <string>

#include "engine/cluster/cluster_config.h"

namespace troupe {
namespace {

// Lines numbered as the parser sees them.
constexpr const char* kValid = R"([model]
path = "demo-qwen2"
load_format = "dummy"
pipeline_parallel = 2

[[node]]
name = "head"
address = "127.0.0.1:4300"
roles = ["gateway", "scheduler", "kv_manager", "executor"]

[[node]]
name = "worker-1"
address = "127.0.0.1:4301"
roles = ["executor"]
)";

struct ErrorCase {
  const char* what;
  const char* replace;  // text of kValid ("" appends `with` at the end)
  const char* with;
  int line;
  const char* key;
  const char* message_part;
  const char* replace_too = nullptr;  // a second edit, made first (the first's line numbers stand)
  const char* with_too = nullptr;
};

std::string replaced(std::string text, const std::string& what, const std::string& with, const char* name) {
  if (what.empty()) return text + with + "\n";
  const size_t at = text.find(what);
  EXPECT_NE(at, std::string::npos) << name << ": no text '" << what << "'";
  if (at != std::string::npos) text.replace(at, what.size(), with);
  return text;
}

std::string edited(const ErrorCase& c) {
  std::string text = kValid;
  if (c.replace_too != nullptr) text = replaced(text, c.replace_too, c.with_too, c.what);
  return replaced(text, c.replace, c.with, c.what);
}

const ErrorCase kCases[] = {
    {"TOML syntax", "[model]", "[model", 1, "", "TOML syntax"},
    {"unknown key, with a suggestion", "pipeline_parallel = 2", "pipeline_paralel = 2", 4, "model.pipeline_paralel",
     "unknown key (did you mean 'pipeline_parallel'? known: path, load_format"},
    {"data_parallel replicas the nodes cannot hold", "pipeline_parallel = 2", "data_parallel = 2\npipeline_parallel = 2", 4,
     "model.data_parallel",
     "data_parallel x tensor_parallel x pipeline_parallel = 2 x 1 x 2 = 4 executors, but the nodes with the executor "
     "role offer 2 (head: 1, worker-1: 1)"},
    {"data_parallel out of range", "pipeline_parallel = 2", "data_parallel = 0", 4, "model.data_parallel", "out of range"},
    {"unknown data_parallel_policy", "pipeline_parallel = 2", "data_parallel = 2\ndata_parallel_policy = \"random\"", 5,
     "model.data_parallel_policy", "'random' is not one of cache_aware, least_loaded, round_robin"},
    {"data_parallel_policy with one replica", "pipeline_parallel = 2", "data_parallel_policy = \"round_robin\"", 4,
     "model.data_parallel_policy", "routes requests between replicas, and data_parallel is 1"},
    {"batch-invariant kernels on cuda", "pipeline_parallel = 2", "batch_invariant = true\ndevice = \"cuda\"", 4,
     "model.batch_invariant", "batch-invariant kernels exist for CPU executors only"},
    {"an API key written in the file", "", "[server]\napi_key = \"k\"", 16, "server.api_key",
     "put it in a file named by api_key_file"},
    {"served_model_name naming nothing", "", "[server]\nserved_model_name = []", 16, "server.served_model_name",
     "names no model"},
    {"unknown table", "", "[servre]\nport = 1", 15, "servre", "did you mean 'server'?"},
    {"[[nodes]] for [[node]]", "", "[[nodes]]\nname = \"x\"", 15, "nodes", "did you mean 'node'?"},
    {"unknown key, the nearest suggested", "load_format = \"dummy\"", "devicee = \"cpu\"", 3, "model.devicee",
     "did you mean 'device'?"},
    {"unknown node key", "roles = [\"executor\"]", "roles = [\"executor\"]\ngpu = [0]", 15, "node[1].gpu",
     "did you mean 'gpus'?"},
    {"wrong type", "pipeline_parallel = 2", "pipeline_parallel = \"2\"", 4, "model.pipeline_parallel",
     "expected an integer, got a string"},
    {"out of range", "pipeline_parallel = 2", "pipeline_parallel = 0", 4, "model.pipeline_parallel", "out of range"},
    {"missing model path", "path = \"demo-qwen2\"", "", 1, "model.path", "missing (required)"},
    {"missing model table", "[model]\npath = \"demo-qwen2\"\nload_format = \"dummy\"\npipeline_parallel = 2", "", 0,
     "model", "missing table [model]"},
    {"bad load_format", "load_format = \"dummy\"", "load_format = \"gguf\"", 3, "model.load_format",
     "not one of auto, safetensors, dummy"},
    {"bad device", "load_format = \"dummy\"", "device = \"tpu\"", 3, "model.device", "not one of cpu, cuda"},
    {"unknown role", "roles = [\"executor\"]", "roles = [\"gatway\", \"executor\"]", 14, "node[1].roles",
     "unknown role 'gatway' (known: gateway, scheduler, kv_manager, executor, spare)"},
    {"spare with another role", "roles = [\"executor\"]", "roles = [\"spare\", \"executor\"]", 14, "node[1].roles",
     "a spare plays no other role"},
    {"preload on an executor", "roles = [\"executor\"]", "roles = [\"executor\"]\npreload = true", 15,
     "node[1].preload", "only a spare preloads"},
    {"role twice", "roles = [\"executor\"]", "roles = [\"executor\", \"executor\"]", 14, "node[1].roles",
     "listed twice"},
    {"no roles", "roles = [\"executor\"]", "roles = []", 14, "node[1].roles", "at least one role"},
    {"roles missing", "roles = [\"executor\"]", "", 11, "node[1]", "missing key 'roles'"},
    {"name missing", "name = \"worker-1\"", "", 11, "node[1].name", "missing (required)"},
    {"name with a space", "name = \"worker-1\"", "name = \"worker 1\"", 12, "node[1].name", "use letters, digits"},
    {"address without port", "address = \"127.0.0.1:4301\"", "address = \"127.0.0.1\"", 13, "node[1].address",
     "expected HOST:PORT"},
    {"address port 0", "address = \"127.0.0.1:4301\"", "address = \"127.0.0.1:0\"", 13, "node[1].address",
     "port must be 1 to 65535"},
    {"address port too big", "address = \"127.0.0.1:4301\"", "address = \"127.0.0.1:70000\"", 13, "node[1].address",
     "port must be 1 to 65535"},
    {"address without host", "address = \"127.0.0.1:4301\"", "address = \":4301\"", 13, "node[1].address",
     "host is empty"},
    {"IPv6 without brackets", "address = \"127.0.0.1:4301\"", "address = \"::1:4301\"", 13, "node[1].address",
     "goes in brackets"},
    {"duplicate address", "address = \"127.0.0.1:4301\"", "address = \"127.0.0.1:4300\"", 13, "node[1].address",
     "also the address of node[0] (line 6) 'head'"},
    {"duplicate address, other spelling", "address = \"127.0.0.1:4301\"", "address = \"LOCALHOST:4300\"", 13,
     "node[1].address", "'localhost:4300' is also the address", "address = \"127.0.0.1:4300\"",
     "address = \"localhost:4300\""},
    {"duplicate name", "name = \"worker-1\"", "name = \"head\"", 12, "node[1].name", "also the name of node[0]"},
    {"two schedulers", "roles = [\"executor\"]", "roles = [\"executor\", \"scheduler\"]", 14, "node[1].roles",
     "a second node with the scheduler role (node[0] 'head' has it"},
    {"two kv_managers", "roles = [\"executor\"]", "roles = [\"executor\", \"kv_manager\"]", 14, "node[1].roles",
     "a second node with the kv_manager role"},
    {"no scheduler", "roles = [\"gateway\", \"scheduler\", \"kv_manager\", \"executor\"]",
     "roles = [\"gateway\", \"kv_manager\", \"executor\"]", 6, "node", "no node has the scheduler role"},
    {"no gateway", "roles = [\"gateway\", \"scheduler\", \"kv_manager\", \"executor\"]",
     "roles = [\"scheduler\", \"kv_manager\", \"executor\"]", 6, "node", "no node has the gateway role"},
    {"tp x pp not the executors offered", "pipeline_parallel = 2", "pipeline_parallel = 3", 4,
     "model.pipeline_parallel", "1 x 3 = 3 executors, but the nodes with the executor role offer 2 (head: 1, worker-1: 1)"},
    {"tp x pp not the executors offered, tp only", "pipeline_parallel = 2", "tensor_parallel = 4", 4,
     "model.tensor_parallel", "4 x 1 = 4 executors"},
    {"executors without the role", "roles = [\"executor\"]", "roles = [\"gateway\"]\nexecutors = 2", 15,
     "node[1].executors", "no executor role"},
    {"executors and gpus", "roles = [\"executor\"]", "roles = [\"executor\"]\nexecutors = 1\ngpus = [0]", 16,
     "node[1].gpus", "not both"},
    {"executors on cuda", "roles = [\"executor\"]", "roles = [\"executor\"]\nexecutors = 1", 16,
     "node[1].executors", "counts CPU executors, but a node lists gpus, so the device is cuda",
     "\"executor\"]\n\n", "\"executor\"]\ngpus = [0]\n\n"},
    {"gpus on cpu", "roles = [\"executor\"]", "roles = [\"executor\"]\ngpus = [0]", 16, "node[1].gpus",
     "GPU ids on a cpu cluster", "load_format = \"dummy\"", "load_format = \"dummy\"\ndevice = \"cpu\""},
    {"GPU listed twice", "roles = [\"executor\"]", "roles = [\"executor\"]\ngpus = [1, 1]", 15, "node[1].gpus",
     "GPU 1 is listed twice"},
    {"cuda executor node without gpus", "roles = [\"gateway\", \"scheduler\", \"kv_manager\", \"executor\"]",
     "roles = [\"gateway\", \"scheduler\", \"kv_manager\", \"executor\"]\ngpus = [0]", 12, "node[1]",
     "missing key 'gpus'"},
    {"batched tokens below seqs", "", "[scheduler]\nmax_num_seqs = 64\nmax_num_batched_tokens = 32", 17,
     "scheduler.max_num_batched_tokens", "must be >= max_num_seqs (64)"},
    {"kv cache of nothing", "", "[scheduler]\nkv_cache_gib = 0", 16, "scheduler.kv_cache_gib", "greater than"},
    {"bool as a string", "", "[scheduler]\nno_prefix_caching = \"yes\"", 16, "scheduler.no_prefix_caching",
     "expected true or false, got a string"},
    {"server port", "", "[server]\nport = 65536", 16, "server.port", "out of range"},
    {"a scheduling policy serve lacks", "", "[server]\nport = 1\nscheduling_policy = \"lifo\"", 17,
     "server.scheduling_policy", "'lifo' is not one of fcfs, priority"},
    {"trusting a template as a string", "", "[server]\ntrust_request_chat_template = \"yes\"", 16,
     "server.trust_request_chat_template", "expected true or false, got a string"},
    {"an empty chat template", "", "[server]\nchat_template = \"\"", 16, "server.chat_template",
     "leave the key out"},
    {"an empty generation config", "", "[server]\ngeneration_config = \"\"", 16, "server.generation_config",
     "auto, vllm or a folder"},
    {"override generation config as a table", "", "[server]\noverride_generation_config = { temperature = 0.5 }", 16,
     "server.override_generation_config", "expected a string, got a table"},
    {"a metrics prefix Prometheus refuses", "", "[server]\nmetrics_prefix = \"1x\"", 16, "server.metrics_prefix",
     "not a Prometheus name part"},
    {"no HTTP threads", "", "[server]\nhttp_threads = 0", 16, "server.http_threads", "out of range (1 to 1024)"},
    {"a shutdown wait longer than a day", "", "[server]\nshutdown_timeout_s = 86401", 16, "server.shutdown_timeout_s",
     "out of range (1 to 86400)"},
    {"an unknown server key, the nearest suggested", "", "[server]\nchat_templat = \"t.jinja\"", 16,
     "server.chat_templat", "did you mean 'chat_template'?"},
    {"join timeout", "", "[cluster]\njoin_timeout_s = -1", 16, "cluster.join_timeout_s", "greater than"},
    {"tp timeout", "", "[cluster]\ntp_timeout_s = 0", 16, "cluster.tp_timeout_s", "greater than"},
    {"unknown sub-table", "", "[cluster.x]\ny = 1", 15, "cluster.x", "unknown key (known: join_timeout_s, tp_timeout_s, heartbeat_timeout_s, spare_after_s)"},
};

TEST(ClusterConfigErrors, EachNamesFileLineAndKey) {
  for (const ErrorCase& c : kCases) {
    const std::string text = edited(c);
    try {
      parse_cluster_config(text, "cluster.toml");
      ADD_FAILURE() << c.what << ": parsed without error:\n" << text;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.file(), "cluster.toml") << c.what;
      EXPECT_EQ(e.line(), c.line) << c.what << ": " << e.what();
      EXPECT_EQ(e.key(), c.key) << c.what << ": " << e.what();
      EXPECT_NE(e.reason().find(c.message_part), std::string::npos) << c.what << ": " << e.what();
      const std::string prefix = "cluster.toml" + (c.line > 0 ? ":" + std::to_string(c.line) : std::string()) + ": " +
                                 (std::string(c.key).empty() ? "" : std::string(c.key) + ": ");
      EXPECT_EQ(std::string(e.what()).rfind(prefix, 0), 0u) << c.what << ": " << e.what();
    }
  }
}

TEST(ClusterConfigErrors, TheIssuesExampleLineReadsAsPromised) {
  std::string text = kValid;
  text.replace(text.find("roles = [\"executor\"]"), 20, "roles = [\"gatway\"]");
  try {
    parse_cluster_config(text, "cluster.toml");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "cluster.toml:14: node[1].roles: unknown role 'gatway' (known: gateway, scheduler, "
                           "kv_manager, executor, spare)");
  }
}

TEST(ClusterConfigErrors, ANodeWrittenAsOneTableIsRefused) {
  std::string text = kValid;
  text = text.substr(0, text.find("[[node]]")) + "[node]\nname = \"x\"\n";
  try {
    parse_cluster_config(text, "cluster.toml");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "node");
    EXPECT_NE(e.reason().find("expected an array of tables ([[node]])"), std::string::npos) << e.what();
  }
}

TEST(ClusterConfigErrors, AFileWithoutNodesIsRefused) {
  std::string text = kValid;
  text = text.substr(0, text.find("[[node]]"));
  try {
    parse_cluster_config(text, "cluster.toml");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "node");
    EXPECT_NE(e.reason().find("no [[node]] tables"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace troupe
