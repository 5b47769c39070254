// A cluster file is read into ClusterConfig as written: every key lands in its field, absent keys
// take the serve flags' defaults (SchedulerSettings, the one source), and the device follows the
// nodes when the file does not name it.
#include <gtest/gtest.h>

#include "engine/cluster/cluster_config.h"

namespace troupe {
namespace {

constexpr const char* kFull = R"(# every key
[model]
path = "/models/llama"
load_format = "safetensors"
dummy_seed = 7
device = "cpu"
tensor_parallel = 2
pipeline_parallel = 2

[scheduler]
max_num_seqs = 32
max_num_batched_tokens = 4096
block_size = 32
kv_cache_gib = 2.5
num_kv_blocks = 100
no_prefix_caching = true
no_async_scheduling = true
max_restarts = 5

[server]
host = "0.0.0.0"
port = 9000

[cluster]
join_timeout_s = 30
tp_timeout_s = 12.5

[[node]]
name = "head"
address = "10.0.0.1:4300"
roles = ["gateway", "scheduler", "kv_manager", "executor"]
executors = 2

[[node]]
name = "worker-1"
address = "[fe80::1]:4301"
roles = ["executor", "gateway"]
executors = 2
)";

TEST(ClusterConfig, EveryKeyLandsInItsField) {
  const ClusterConfig c = parse_cluster_config(kFull, "cluster.toml");
  EXPECT_EQ(c.model.path, "/models/llama");
  EXPECT_EQ(c.model.load_format, "safetensors");
  EXPECT_EQ(c.model.dummy_seed, 7u);
  EXPECT_EQ(c.model.device, ClusterDevice::Cpu);
  EXPECT_EQ(c.model.tensor_parallel, 2);
  EXPECT_EQ(c.model.pipeline_parallel, 2);
  EXPECT_EQ(c.world_size(), 4);
  EXPECT_EQ(c.scheduler.max_num_seqs, 32);
  EXPECT_EQ(c.scheduler.max_num_batched_tokens, 4096);
  EXPECT_EQ(c.scheduler.block_size, 32);
  EXPECT_DOUBLE_EQ(c.scheduler.kv_cache_gib, 2.5);
  EXPECT_EQ(c.scheduler.num_kv_blocks, 100);
  EXPECT_TRUE(c.scheduler.no_prefix_caching);
  EXPECT_TRUE(c.scheduler.no_async_scheduling);
  EXPECT_EQ(c.scheduler.max_restarts, 5);
  EXPECT_EQ(c.server.host, "0.0.0.0");
  EXPECT_EQ(c.server.port, 9000);
  EXPECT_DOUBLE_EQ(c.cluster.join_timeout_s, 30);
  EXPECT_DOUBLE_EQ(c.cluster.tp_timeout_s, 12.5);
  ASSERT_EQ(c.nodes.size(), 2u);
  EXPECT_EQ(c.nodes[0].name, "head");
  EXPECT_EQ(c.nodes[0].host, "10.0.0.1");
  EXPECT_EQ(c.nodes[0].port, 4300);
  EXPECT_EQ(c.nodes[0].line, 28);
  EXPECT_EQ(c.nodes[0].executor_slots(), 2);
  EXPECT_TRUE(c.nodes[0].has(NodeRole::KvManager));
  EXPECT_EQ(c.nodes[1].host, "fe80::1");
  EXPECT_EQ(c.nodes[1].address(), "[fe80::1]:4301");
  EXPECT_TRUE(c.nodes[1].has(NodeRole::Gateway));
  EXPECT_FALSE(c.nodes[1].has(NodeRole::Scheduler));
  EXPECT_EQ(c.scheduler_node().name, "head");
  EXPECT_EQ(c.line_of("model.tensor_parallel"), 7);
  EXPECT_EQ(c.line_of("node[1].address"), 36);
  EXPECT_EQ(c.line_of("server.nothing"), 20);  // a key the file lacks: its table's line
}

TEST(ClusterConfig, BatchInvariantIsReadOffByDefault) {
  const std::string text = kFull;
  EXPECT_FALSE(parse_cluster_config(text, "cluster.toml").model.batch_invariant);
  const std::string on = text.substr(0, text.find("[scheduler]")) + "batch_invariant = true\n" +
                         text.substr(text.find("[scheduler]"));
  EXPECT_TRUE(parse_cluster_config(on, "cluster.toml").model.batch_invariant);
}

// One node holding every role: the smallest file.
constexpr const char* kSolo = R"([model]
path = "m"
[[node]]
name = "solo"
address = "localhost:4300"
roles = ["gateway", "scheduler", "kv_manager", "executor"]
)";

TEST(ClusterConfig, ServerKeysAreServesFlags) {
  const ServerSection s = parse_cluster_config(std::string(kSolo) + R"([server]
served_model_name = ["a", "b"]
api_key_file = "keys/api.key"
metrics_need_api_key = true
max_queue_depth = 7
request_timeout_s = 30
seed = 5
metrics_prefix = "vllm"
chat_template = "templates/chat.jinja"
trust_request_chat_template = true
scheduling_policy = "priority"
generation_config = "vllm"
override_generation_config = '{"temperature": 0.5}'
http_threads = 4
max_connections = 100
max_connections_per_client = 0
header_timeout_s = 5
keep_alive_timeout_s = 7
shutdown_timeout_s = 9
)",
                                               "cluster.toml").server;
  EXPECT_EQ(s.served_model_name, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(s.api_key_file, "keys/api.key");
  EXPECT_TRUE(s.metrics_need_api_key);
  EXPECT_EQ(s.max_queue_depth, 7);
  EXPECT_EQ(s.request_timeout_s, 30);
  EXPECT_EQ(s.seed, 5u);
  EXPECT_EQ(s.metrics_prefix, "vllm");
  EXPECT_EQ(s.chat_template, "templates/chat.jinja");  // as written: the head resolves it from the file's folder
  EXPECT_TRUE(s.trust_request_chat_template);
  EXPECT_TRUE(s.priority_scheduling);
  EXPECT_EQ(s.generation_config, "vllm");
  EXPECT_EQ(s.override_generation_config, R"({"temperature": 0.5})");
  EXPECT_EQ(s.http_threads, 4);
  EXPECT_EQ(s.max_connections, 100);
  EXPECT_EQ(s.max_connections_per_client, 0);
  EXPECT_EQ(s.header_timeout_s, 5);
  EXPECT_EQ(s.keep_alive_timeout_s, 7);
  EXPECT_EQ(s.shutdown_timeout_s, 9);
  const ServerSection absent = parse_cluster_config(kSolo, "cluster.toml").server;
  EXPECT_TRUE(absent.served_model_name.empty());
  EXPECT_TRUE(absent.api_key_file.empty());
  EXPECT_EQ(absent.max_queue_depth, 4096);  // serve's --max-queue-depth default
  EXPECT_FALSE(absent.seed.has_value());
  // serve's defaults: its own /metrics names, the folder's template, fcfs, generation_config.json read.
  EXPECT_EQ(absent.metrics_prefix, "troupe");
  EXPECT_TRUE(absent.chat_template.empty());
  EXPECT_FALSE(absent.trust_request_chat_template);
  EXPECT_FALSE(absent.priority_scheduling);
  EXPECT_EQ(absent.generation_config, "auto");
  EXPECT_TRUE(absent.override_generation_config.empty());
  EXPECT_EQ(absent.max_connections, 1024);  // serve's defaults: net's options read these very fields
  EXPECT_EQ(absent.shutdown_timeout_s, 30);
  EXPECT_FALSE(parse_cluster_config(std::string(kSolo) + "[server]\nscheduling_policy = \"fcfs\"\n", "cluster.toml")
                   .server.priority_scheduling);
}

TEST(ClusterConfig, AbsentKeysTakeTheServeFlagsDefaults) {
  const ClusterConfig c = parse_cluster_config(R"([model]
path = "m"
[[node]]
name = "solo"
address = "localhost:4300"
roles = ["gateway", "scheduler", "kv_manager", "executor"]
)",
                                               "cluster.toml");
  const SchedulerSettings defaults;
  EXPECT_EQ(c.scheduler.max_num_seqs, defaults.max_num_seqs);
  EXPECT_EQ(c.scheduler.max_num_batched_tokens, defaults.max_num_batched_tokens);
  EXPECT_EQ(c.scheduler.block_size, defaults.block_size);
  EXPECT_DOUBLE_EQ(c.scheduler.kv_cache_gib, defaults.kv_cache_gib);
  EXPECT_EQ(c.scheduler.no_prefix_caching, defaults.no_prefix_caching);
  EXPECT_EQ(c.scheduler.max_restarts, defaults.max_restarts);
  // And those defaults are the scheduler's own.
  EXPECT_EQ(defaults.max_num_seqs, SchedulerConfig{}.max_num_seqs);
  EXPECT_EQ(defaults.no_async_scheduling, !SchedulerConfig{}.async_scheduling);
  EXPECT_EQ(c.model.load_format, "auto");
  EXPECT_EQ(c.model.tensor_parallel, 1);
  EXPECT_EQ(c.model.pipeline_parallel, 1);
  EXPECT_EQ(c.model.device, ClusterDevice::Cpu);
  EXPECT_EQ(c.server.host, ServerSection{}.host);
  EXPECT_EQ(c.server.port, ServerSection{}.port);
  EXPECT_DOUBLE_EQ(c.cluster.join_timeout_s, 120);
  EXPECT_DOUBLE_EQ(c.cluster.tp_timeout_s, 30);
  EXPECT_DOUBLE_EQ(c.cluster.heartbeat_timeout_s, 15);
  EXPECT_EQ(c.nodes[0].executors, 1);  // a CPU executor node without `executors` offers one
}

TEST(ClusterConfig, ListedGpusMakeTheDeviceCuda) {
  const ClusterConfig c = parse_cluster_config(R"([model]
path = "m"
tensor_parallel = 3
[[node]]
name = "gpu-box"
address = "gpu-box.example:4300"
roles = ["gateway", "scheduler", "kv_manager", "executor"]
gpus = [2, 0, 5]
)",
                                               "cluster.toml");
  EXPECT_EQ(c.model.device, ClusterDevice::Cuda);
  EXPECT_EQ(c.nodes[0].gpus, (std::vector<int32_t>{2, 0, 5}));
  EXPECT_EQ(c.nodes[0].executor_slots(), 3);
}

TEST(ClusterConfig, ASpareOffersNoExecutorToPlacementButItsOwnToATakeover) {
  const ClusterConfig c = parse_cluster_config(R"([model]
path = "m"
pipeline_parallel = 2
[cluster]
spare_after_s = 2.5
[[node]]
name = "head"
address = "127.0.0.1:4300"
roles = ["gateway", "scheduler", "kv_manager", "executor"]
[[node]]
name = "worker"
address = "127.0.0.1:4301"
roles = ["executor"]
[[node]]
name = "standby"
address = "127.0.0.1:4302"
roles = ["spare"]
preload = true
)",
                                               "cluster.toml");
  EXPECT_EQ(c.cluster.spare_after_s, 2.5);
  EXPECT_TRUE(c.nodes[2].has(NodeRole::Spare));
  EXPECT_TRUE(c.nodes[2].preload);
  EXPECT_EQ(c.nodes[2].executor_slots(), 0);  // tp x pp = 2 = what head and worker offer
  EXPECT_EQ(c.nodes[2].spare_slots(), 1);     // one CPU executor, as an executor node's default
  EXPECT_FALSE(c.nodes[1].preload);
}

TEST(ClusterConfig, AGatewayMayLiveWithoutTheScheduler) {
  const ClusterConfig c = parse_cluster_config(R"([model]
path = "m"
[[node]]
name = "front"
address = "127.0.0.1:4300"
roles = ["gateway"]
[[node]]
name = "back"
address = "127.0.0.1:4301"
roles = ["scheduler", "kv_manager", "executor"]
)",
                                               "cluster.toml");
  EXPECT_EQ(c.scheduler_node().name, "back");
  EXPECT_EQ(c.nodes[0].executor_slots(), 0);
}

TEST(ClusterConfig, ReadsAFileFromDiskAndNamesItInErrors) {
  try {
    load_cluster_config("/nonexistent/cluster.toml");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 0);
    EXPECT_STREQ(e.what(), "/nonexistent/cluster.toml: cannot open the cluster file");
  }
}

}  // namespace
}  // namespace troupe
