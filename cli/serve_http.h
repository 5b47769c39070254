#pragma once
// Serving HTTP in front of an engine until SIGINT or SIGTERM, then shutting down gracefully:
// what `troupe serve` and a cluster's head node (`troupe node --config`) both do once their
// engine runs.
#include <csignal>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>

#include "actors/engine_topology.h"
#include "engine/cluster/cluster_health.h"
#include "engine/metrics/server_metrics.h"
#include "engine/model_folder.h"
#include "engine/routing/replica_router.h"
#include "net/api_key.h"
#include "net/api_server.h"

namespace troupe::cli {

struct HttpServing {
  net::ApiServerOptions http;
  std::vector<std::string> served_model_names;  // empty: the --model string as given, as vLLM
  std::optional<uint64_t> seed;                 // --seed (net::ApiContext::seed)
  std::string metrics_prefix = "troupe";        // /metrics series are PREFIX:name (vllm: vLLM's boards)
  std::string api_key;            // empty: every route is open
  bool metrics_need_key = false;  // --metrics-need-api-key (vLLM leaves /metrics open)
  net::FieldGates field_gates;    // --trust-request-chat-template, --scheduling-policy priority
  int64_t max_queue_depth = 4096;
  int request_timeout = 0;        // seconds; 0: never
  bool logit_adjustments = true;  // the executors apply logit_bias and min_tokens (net/api_routes.h)
  bool prompt_logprobs = true;    // the executors score prompt tokens (net/api_routes.h)
  RoutingPolicy routing = RoutingPolicy::CacheAware;  // --data-parallel-policy: which replica a request goes to
};

// Takes `key` as the key every route but /health (and /metrics unless metrics_need_key) requires,
// and logs where it came from (never the key); an empty key leaves every route open.
void use_api_key(HttpServing& o, const net::ApiKey& key);

// Spawns a gateway in front of `engine` and serves until a signal of `signals` (blocked in every
// thread by the caller) arrives; a second one cuts the drain short. `cluster`: a head's nodes,
// for /health and /metrics. Returns the exit status.
int serve_until_signal(caf::actor_system& sys, const EngineActors& engine, std::shared_ptr<const ModelFolder> folder,
                       std::shared_ptr<ServerMetrics> metrics, const HttpServing& o, const sigset_t& signals,
                       std::shared_ptr<const ClusterHealth> cluster = nullptr);

}  // namespace troupe::cli
