#pragma once
// HttpServer: asynchronous HTTP/1.1 on Boost.Beast. It owns sockets and timeouts and nothing
// else: each request goes to a handler with an HttpResponder, which may answer at once, later,
// or as a stream of chunks (Server-Sent Events), from any thread.
//
// Limits that keep a misbehaving client from holding the server:
// - header and body size (413 for a large body);
// - a new connection must deliver a complete request header within `header_timeout`, a kept-alive
//   one within `header_timeout` of its next request's first byte (slowloris), and the body within
//   `read_timeout`; a kept-alive connection may wait `idle_timeout` for its next request;
// - per client address at most `max_connections_per_client`; at the global cap the longest-idle
//   connection is closed to make room (ConnectionRegistry states the rules).
//
// Requests on one connection are answered in order: bytes a client sends while its request is
// answered (a pipelined request) are kept and parsed next. A client that half-closes after
// sending still gets its answer. A client that hangs up mid-answer is noticed when a read fails
// with a reset or a write fails (a stream's next chunk), and the handler's disconnect callback
// runs; a non-streamed answer to a client that closed without a reset is computed to its end.
//
// Lifetime: the I/O threads own every connection. A responder holds only a weak reference, so
// whatever thread releases the last responder (an actor's) never destroys an HTTP object; a
// connection keeps itself alive while it answers and until it is closed.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "engine/cluster/server_section.h"

namespace troupe::net {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

struct HttpServerOptions {
  std::string host = ServerSection{}.host;  // the defaults a cluster file's [server] has too
  uint16_t port = ServerSection{}.port;    // 0 picks a free port (tests)
  uint64_t max_body_bytes = 8u << 20;   // 8 MiB
  uint32_t max_header_bytes = 16u << 10;
  std::chrono::seconds header_timeout{ServerSection{}.header_timeout_s};
  std::chrono::seconds read_timeout{30};  // the body; and a client that stops reading a response
  std::chrono::seconds idle_timeout{ServerSection{}.keep_alive_timeout_s};
  size_t max_connections = static_cast<size_t>(ServerSection{}.max_connections);
  size_t max_connections_per_client = static_cast<size_t>(ServerSection{}.max_connections_per_client);  // 0: no limit
};

// What a handler answers with. Every method is safe from any thread and after the client has gone
// (then it does nothing). A responder answers once: a full reply, or a stream.
class HttpResponder {
 public:
  virtual ~HttpResponder() = default;
  virtual void reply(unsigned status, std::string content_type, std::string body,
                     std::map<std::string, std::string> headers = {}) = 0;
  // Streams: begin with headers, write chunks, then end.
  virtual void begin_stream(unsigned status, std::string content_type) = 0;
  virtual void write(std::string chunk) = 0;
  virtual void end_stream() = 0;
  // Called once if the client disconnects before the answer is complete (from the I/O thread).
  virtual void on_disconnect(std::function<void()> callback) = 0;
};

using HttpHandler = std::function<void(const HttpRequest&, std::shared_ptr<HttpResponder>)>;

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  // Binds and starts accepting; throws std::runtime_error naming the address if binding fails.
  void start();
  uint16_t port() const;  // the bound port
  size_t open_connections() const;
  size_t busy_connections() const;  // answering a request now

  // Shutting down: from now on every answer closes its connection, and idle connections are
  // closed now. New connections are still accepted (they get the handler's answers, e.g. 503).
  void drain();
  // Closes every connection; an unfinished answer's disconnect callback runs.
  void close_all();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace troupe::net
