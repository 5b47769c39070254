#pragma once
// The HTTP API: which path and method does what. Generation requests are parsed and tokenized
// on the I/O thread, then handed to the gateway actor with a sink that writes the HTTP answer
// (one JSON body, or Server-Sent Events as tokens arrive).
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <caf/actor.hpp>

#include "engine/cluster/cluster_health.h"
#include "engine/metrics/server_metrics.h"
#include "engine/model_folder.h"
#include "net/http_server.h"
#include "net/request_fields.h"  // FieldGates
#include "net/served_names.h"

namespace troupe::net {

struct ApiContext {
  std::shared_ptr<const ModelFolder> model;
  ServedNames served_name;  // --served-model-name: all answer, the first is reported
  caf::actor gateway;
  int64_t started_at = 0;               // unix seconds, for /v1/models
  std::atomic<uint64_t> next_id{1};
  std::shared_ptr<ServerMetrics> metrics;  // /metrics and admission control; may be null
  int64_t max_waiting = 0;              // > 0: beyond this many queued requests answer 429
  // Requests admitted and not yet running (net/admission.h): shared with the tickets, which the
  // gateway may release after this context is gone.
  std::shared_ptr<std::atomic<int64_t>> queued = std::make_shared<std::atomic<int64_t>>(0);
  std::atomic<bool> draining{false};    // shutting down: /health and new generation requests 503
  std::string api_key;                  // non-empty: every route but /health (and /metrics) needs "Bearer <key>"
  bool metrics_need_key = false;        // --metrics-need-api-key: /metrics too (vLLM leaves it open)
  FieldGates field_gates;               // serve flags that open request fields (chat_template, priority)
  std::shared_ptr<const ClusterHealth> cluster;  // a cluster's head: /health and /metrics show its nodes; else null
  // The executor applies logit_bias and min_tokens (ModelBackend::applies_logit_adjustments);
  // when not (or not known to: an executor elsewhere that does not say, cli/serve_command) both are 400s
  // naming them. Every backend in this process applies them (the GPU's device sampler too).
  bool logit_adjustments = true;
  // The executor scores prompt tokens (ModelBackend::computes_prompt_logprobs); when not (a GPU, a
  // split vocabulary, an executor elsewhere that does not say) prompt_logprobs, and echo with
  // logprobs, are 400s.
  bool prompt_logprobs = true;
  // --seed: a request without a seed gets one made from it and its sequence id, so a server
  // started with the same seed answers the same requests, in the same order, with the same text.
  std::optional<uint64_t> seed;
};

HttpHandler make_api_handler(std::shared_ptr<ApiContext> context);

}  // namespace troupe::net
