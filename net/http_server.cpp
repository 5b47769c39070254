#include "net/http_server.h"

#include <atomic>
#include <mutex>
#include <optional>
#include <stdexcept>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "net/http_session.h"

namespace troupe::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using detail::Clock;
using detail::ServerShared;
using detail::Session;

}  // namespace

struct HttpServer::State {
  State(asio::io_context& io, HttpServerOptions o, HttpHandler h)
      : io(io), acceptor(asio::make_strand(io)), shared(std::make_shared<ServerShared>(std::move(o), std::move(h))) {}
  void accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) admit(std::move(socket));
      accept();
    });
  }
  void admit(tcp::socket socket) {
    beast::error_code ec;
    const auto peer = socket.remote_endpoint(ec);
    if (ec) return;
    std::shared_ptr<Session> session;
    std::optional<ConnectionRegistry::Id> evicted;
    {
      std::lock_guard lock(shared->mutex);
      const auto a = shared->registry.admit(peer.address().to_string(), Clock::now());
      if (!a.accepted) {
        socket.close(ec);  // refused at once rather than queued without bound
        return;
      }
      evicted = a.evicted;
      session = detail::make_session(std::move(socket), shared, a.id);
      shared->sessions.emplace(a.id, session);
    }
    if (evicted) shared->close({*evicted});
    detail::start_session(session);
  }
  asio::io_context& io;
  tcp::acceptor acceptor;
  std::shared_ptr<ServerShared> shared;
};

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions options, HttpHandler handler)
    : state_(std::make_shared<State>(io, std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() {
  beast::error_code ec;
  state_->acceptor.close(ec);
}

void HttpServer::start() {
  const auto& o = state_->shared->options;
  beast::error_code ec;
  const auto address = asio::ip::make_address(o.host, ec);
  if (ec) throw std::runtime_error("--host '" + o.host + "' is not an IP address");
  const tcp::endpoint ep{address, o.port};
  auto& a = state_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " + ec.message());
  state_->accept();
}

uint16_t HttpServer::port() const { return state_->acceptor.local_endpoint().port(); }

size_t HttpServer::open_connections() const {
  std::lock_guard lock(state_->shared->mutex);
  return state_->shared->registry.size();
}

size_t HttpServer::busy_connections() const {
  std::lock_guard lock(state_->shared->mutex);
  return state_->shared->registry.busy();
}

void HttpServer::drain() {
  auto& s = *state_->shared;
  s.draining.store(true);
  std::vector<ConnectionRegistry::Id> idle;
  {
    std::lock_guard lock(s.mutex);
    idle = s.registry.idle_ids();
  }
  s.close(idle);
}

void HttpServer::close_all() {
  auto& s = *state_->shared;
  std::vector<ConnectionRegistry::Id> all;
  {
    std::lock_guard lock(s.mutex);
    all = s.registry.all_ids();
  }
  s.close(all);
}

}  // namespace troupe::net
