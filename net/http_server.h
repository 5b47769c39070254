#pragma once
// HttpServer: asynchronous HTTP/1.1 on Boost.Beast. It owns sockets and timeouts and nothing
// else: each request goes to a handler with an HttpResponder, which may answer at once, later,
// or as a stream of chunks (Server-Sent Events), from any thread.
//
// Limits that keep a misbehaving client from holding the server: header and body size (413 for a
// large body), a read timeout per request (a slow client cannot hold a connection), an idle
// keep-alive timeout, and a cap on open connections (beyond it new ones are closed at once).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace troupe::net {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;                 // 0 picks a free port (tests)
  uint64_t max_body_bytes = 8u << 20;   // 8 MiB
  uint32_t max_header_bytes = 16u << 10;
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds idle_timeout{60};
  size_t max_connections = 1024;
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

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace troupe::net
