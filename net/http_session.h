#pragma once
// The inside of HttpServer, for net/ only: what every connection shares (options, handler, the
// registry of connections) and one connection's Session, which reads requests one at a time,
// hands them to the handler with a Responder, and writes whole or streamed answers. The server
// (http_server.cpp) accepts, admits through the registry and starts sessions.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "net/connection_registry.h"
#include "net/http_server.h"

namespace troupe::net::detail {

using Clock = std::chrono::steady_clock;

class Session;

// What every connection shares: options, the handler, and the registry of connections (under a
// mutex: sessions run on their own strands).
struct ServerShared {
  explicit ServerShared(HttpServerOptions o, HttpHandler h)
      : options(std::move(o)), handler(std::move(h)),
        registry({options.max_connections, options.max_connections_per_client}) {}
  HttpServerOptions options;
  HttpHandler handler;
  std::atomic<bool> draining{false};
  std::mutex mutex;
  ConnectionRegistry registry;
  std::unordered_map<ConnectionRegistry::Id, std::weak_ptr<Session>> sessions;

  void set_busy(ConnectionRegistry::Id id, bool busy) {
    std::lock_guard lock(mutex);
    registry.set_busy(id, busy, Clock::now());
  }
  void remove(ConnectionRegistry::Id id) {
    std::lock_guard lock(mutex);
    registry.remove(id);
    sessions.erase(id);
  }
  // Closes the given connections on their own strands.
  void close(const std::vector<ConnectionRegistry::Id>& ids);
};

// The session of an admitted connection; start_session begins reading.
std::shared_ptr<Session> make_session(boost::asio::ip::tcp::socket socket, std::shared_ptr<ServerShared> shared,
                                      ConnectionRegistry::Id id);
void start_session(const std::shared_ptr<Session>& session);

}  // namespace troupe::net::detail
