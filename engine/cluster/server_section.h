#pragma once
// [server] of a cluster file: where each gateway node listens for HTTP. The one source of the
// defaults `troupe serve --host/--port` use too (net/http_server.h reads them).
#include <cstdint>
#include <string>

namespace troupe {

struct ServerSection {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;  // 0: any free port
};

}  // namespace troupe
