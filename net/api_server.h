#pragma once
// ApiServer: the HTTP front of an engine (the API routes on an HttpServer and its I/O threads)
// and its orderly end. `troupe serve` and the tests run the same one, so the shutdown the tests
// exercise is the one a SIGTERM runs.
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <caf/fwd.hpp>

#include "net/api_routes.h"
#include "net/http_server.h"

namespace troupe::net {

struct ApiServerOptions {
  HttpServerOptions http;
  int threads = static_cast<int>(ServerSection{}.http_threads);                // I/O threads
  std::chrono::seconds shutdown_timeout{ServerSection{}.shutdown_timeout_s};  // for requests in flight to finish on their own
};

class ApiServer {
 public:
  // Binds and serves at once (throws std::runtime_error naming the address if it cannot bind).
  // `context->gateway` is the gateway the routes submit to; shutdown() stops it.
  ApiServer(caf::actor_system& sys, std::shared_ptr<ApiContext> context, ApiServerOptions options);
  ~ApiServer();  // shutdown() when not done yet
  uint16_t port() const { return http_->port(); }
  size_t open_connections() const { return http_->open_connections(); }
  ApiContext& context() { return *ctx_; }

  // The graceful end, every wait bounded and logged with what it waits for:
  // 1. at once: /health and new generation requests answer 503, idle connections close, every
  //    answer from now on closes its connection;
  // 2. requests in flight run to completion, for up to shutdown_timeout (or until hurry());
  // 3. those still running are aborted through the gateway: each ends cleanly (finish reason
  //    abort, the usage, [DONE]) and is written out (up to 10 s more);
  // 4. every connection closes, the gateway is stopped and waited for, the I/O threads end.
  // After it no thread holds an HTTP object: the gateway, which held the responders, is gone
  // before the I/O objects are. Call it once, from one thread.
  void shutdown();
  // Cuts step 2 short (a second signal): callable from any thread.
  void hurry() { hurry_.store(true); }

 private:
  caf::actor_system& sys_;
  std::shared_ptr<ApiContext> ctx_;
  ApiServerOptions options_;
  boost::asio::io_context io_;
  std::unique_ptr<HttpServer> http_;
  std::vector<std::thread> threads_;
  std::atomic<bool> hurry_{false};
  bool stopped_ = false;
};

}  // namespace troupe::net
