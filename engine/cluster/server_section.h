#pragma once
// [server] of a cluster file: where each gateway node listens for HTTP, and what `troupe serve`
// flags of the same names would say of its API. The one source of the defaults `troupe serve
// --host/--port` use too (net/http_server.h reads them).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe {

struct ServerSection {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;  // 0: any free port
  // As --served-model-name; empty: the model folder's path.
  std::vector<std::string> served_model_name;
  // As --api-key-file (relative: from the cluster file's folder); empty: $TROUPE_API_KEY, then
  // $VLLM_API_KEY, else every route is open. No api_key key: a secret in a shared file is refused.
  std::string api_key_file;
  bool metrics_need_api_key = false;  // as --metrics-need-api-key
  int64_t max_queue_depth = 4096;     // as --max-queue-depth (0: no limit)
  int64_t request_timeout_s = 0;      // as --request-timeout (0: never)
  std::optional<uint64_t> seed;       // as --seed
  std::string metrics_prefix = "troupe";  // as --metrics-prefix (is_metrics_prefix)
  // As --chat-template: a Jinja file (relative: from the cluster file's folder) or the template
  // text; empty: tokenizer_config.json's. Read on the head, before it loads anything.
  std::string chat_template;
  bool trust_request_chat_template = false;  // as --trust-request-chat-template
  bool priority_scheduling = false;          // scheduling_policy = "priority" (as --scheduling-policy); "fcfs": false
  // As --generation-config: auto (the model folder's generation_config.json), vllm (none), or a
  // folder (relative: from the cluster file's). Read on the head, with the override below.
  std::string generation_config = "auto";
  // As --override-generation-config: a JSON object as text. Empty: none.
  std::string override_generation_config;
  // HTTP tuning, as serve's flags of the same names, whose defaults these are (net/http_server.h
  // and net/api_server.h read them).
  int64_t http_threads = 2;                  // --http-threads
  int64_t max_connections = 1024;            // --max-connections
  int64_t max_connections_per_client = 512;  // --max-connections-per-client (0: no limit)
  int64_t header_timeout_s = 10;             // --header-timeout
  int64_t keep_alive_timeout_s = 60;         // --keep-alive-timeout
  int64_t shutdown_timeout_s = 30;           // --shutdown-timeout
};

// A Prometheus name part (letters, digits and _, not starting with a digit): what --metrics-prefix
// and [server] metrics_prefix accept, since /metrics series are PREFIX:name.
bool is_metrics_prefix(std::string_view prefix);

}  // namespace troupe
