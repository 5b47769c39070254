#pragma once
// [server] of a cluster file: where each gateway node listens for HTTP, and what `troupe serve`
// flags of the same names would say of its API. The one source of the defaults `troupe serve
// --host/--port` use too (net/http_server.h reads them).
#include <cstdint>
#include <optional>
#include <string>
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
};

}  // namespace troupe
