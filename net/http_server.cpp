#include "net/http_server.h"

#include <atomic>
#include <cstring>
#include <optional>
#include <deque>
#include <stdexcept>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace troupe::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct ServerShared {
  HttpServerOptions options;
  HttpHandler handler;
  std::atomic<size_t> connections{0};
};

// One connection. Requests are handled one at a time (HTTP/1.1 without pipelining); while a
// handler has not answered, a one-byte read watches for the client hanging up.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<ServerShared> shared)
      : stream_(std::move(socket)), shared_(std::move(shared)) {
    ++shared_->connections;
  }
  ~Session() { --shared_->connections; }

  void start() { asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_request(); }); }

  // Called by the responder, always on the session's strand.
  void send_full(http::response<http::string_body> res);
  void send_stream_header(unsigned status, std::string content_type);
  void send_chunk(std::string chunk);
  void send_stream_end();
  void set_disconnect_callback(std::function<void()> cb) {
    if (closed_) cb();
    else on_disconnect_ = std::move(cb);
  }
  auto executor() { return stream_.get_executor(); }

 private:
  void read_request();
  void on_request(beast::error_code ec);
  void watch_for_hangup();
  void write_next();
  void finish_response();
  void close();

  beast::tcp_stream stream_;
  std::shared_ptr<ServerShared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = false;
  bool closed_ = false;
  bool answering_ = false;  // a handler holds the request
  std::function<void()> on_disconnect_;
  std::deque<std::shared_ptr<std::string>> out_;  // serialized bytes waiting to be written
  bool writing_ = false;
  bool response_done_ = false;  // all bytes of the response are queued
  char hangup_probe_ = 0;
};

class Responder : public HttpResponder {
 public:
  explicit Responder(std::shared_ptr<Session> s) : session_(std::move(s)) {}
  void reply(unsigned status, std::string content_type, std::string body,
             std::map<std::string, std::string> headers) override {
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, content_type);
    res.set(http::field::server, "troupe");
    for (auto& [k, v] : headers) res.set(k, v);
    res.body() = std::move(body);
    res.prepare_payload();
    post([res = std::move(res)](Session& s) mutable { s.send_full(std::move(res)); });
  }
  void begin_stream(unsigned status, std::string content_type) override {
    post([status, ct = std::move(content_type)](Session& s) mutable { s.send_stream_header(status, std::move(ct)); });
  }
  void write(std::string chunk) override {
    post([c = std::move(chunk)](Session& s) mutable { s.send_chunk(std::move(c)); });
  }
  void end_stream() override {
    post([](Session& s) { s.send_stream_end(); });
  }
  void on_disconnect(std::function<void()> cb) override {
    post([cb = std::move(cb)](Session& s) mutable { s.set_disconnect_callback(std::move(cb)); });
  }

 private:
  template <class F>
  void post(F&& f) {
    asio::post(session_->executor(), [s = session_, f = std::forward<F>(f)]() mutable { f(*s); });
  }
  std::shared_ptr<Session> session_;
};

void Session::read_request() {
  parser_.emplace();
  parser_->body_limit(shared_->options.max_body_bytes);
  parser_->header_limit(shared_->options.max_header_bytes);
  stream_.expires_after(buffer_.size() > 0 ? shared_->options.read_timeout : shared_->options.idle_timeout);
  http::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec) return self->on_request(ec);
    // Once a request has begun, the whole of it must arrive within the read timeout.
    self->stream_.expires_after(self->shared_->options.read_timeout);
    http::async_read(self->stream_, self->buffer_, *self->parser_,
                     [self](beast::error_code ec2, size_t) { self->on_request(ec2); });
  });
}

void Session::on_request(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    keep_alive_ = false;
    answering_ = true;
    Responder(shared_from_this())
        .reply(413, "application/json",
               R"({"error":{"message":"request body exceeds the limit","type":"invalid_request_error","param":null,"code":413}})",
               {});
    return;
  }
  if (ec) return close();
  stream_.expires_never();
  HttpRequest req = parser_->release();
  keep_alive_ = req.keep_alive();
  answering_ = true;
  response_done_ = false;
  watch_for_hangup();
  try {
    shared_->handler(req, std::make_shared<Responder>(shared_from_this()));
  } catch (const std::exception&) {
    Responder(shared_from_this()).reply(500, "application/json",
        R"({"error":{"message":"internal error","type":"server_error","param":null,"code":500}})", {});
  }
}

void Session::watch_for_hangup() {
  // While a handler answers, a one-byte read notices a client that hangs up. When the answer is
  // complete, finish_response cancels this read, and its completion starts the next request, so
  // two reads never race and a byte it caught is handed on to the next request's parser.
  stream_.socket().async_read_some(asio::buffer(&hangup_probe_, 1), [self = shared_from_this()](beast::error_code ec, size_t n) {
    if (self->answering_) {
      if (ec != asio::error::operation_aborted) self->close();  // hang-up (or pipelining, unsupported)
      return;
    }
    if (n == 1) {
      auto b = self->buffer_.prepare(1);
      std::memcpy(b.data(), &self->hangup_probe_, 1);
      self->buffer_.commit(1);
    }
    if (ec && ec != asio::error::operation_aborted) return self->close();
    if (!self->closed_) self->read_request();
  });
}

void Session::send_full(http::response<http::string_body> res) {
  if (closed_ || !answering_ || response_done_) return;
  res.keep_alive(keep_alive_);
  auto bytes = std::make_shared<std::string>();
  http::response_serializer<http::string_body> sr{res};
  beast::error_code ec;
  // Serialize into one string so every write goes through the same queue as stream chunks.
  sr.split(false);
  while (!sr.is_done()) {
    sr.next(ec, [&](beast::error_code&, const auto& buffers) {
      for (auto b : beast::buffers_range_ref(buffers)) bytes->append(static_cast<const char*>(b.data()), b.size());
      sr.consume(beast::buffer_bytes(buffers));
    });
    if (ec) return close();
  }
  out_.push_back(bytes);
  response_done_ = true;
  write_next();
}

void Session::send_stream_header(unsigned status, std::string content_type) {
  if (closed_ || !answering_ || response_done_) return;
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " +
                     std::string(http::obsolete_reason(static_cast<http::status>(status))) + "\r\n";
  head += "Server: troupe\r\nContent-Type: " + content_type +
          "\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n";
  head += keep_alive_ ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  out_.push_back(std::make_shared<std::string>(std::move(head)));
  write_next();
}

void Session::send_chunk(std::string chunk) {
  if (closed_ || !answering_ || response_done_ || chunk.empty()) return;
  char size[20];
  const int n = std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
  auto bytes = std::make_shared<std::string>(size, static_cast<size_t>(n));
  bytes->append(chunk).append("\r\n");
  out_.push_back(bytes);
  write_next();
}

void Session::send_stream_end() {
  if (closed_ || !answering_ || response_done_) return;
  out_.push_back(std::make_shared<std::string>("0\r\n\r\n"));
  response_done_ = true;
  write_next();
}

void Session::write_next() {
  if (writing_ || closed_) return;
  if (out_.empty()) {
    if (response_done_) finish_response();
    return;
  }
  writing_ = true;
  auto bytes = out_.front();
  stream_.expires_after(shared_->options.read_timeout);  // a client that stops reading is dropped
  asio::async_write(stream_, asio::buffer(*bytes), [self = shared_from_this(), bytes](beast::error_code ec, size_t) {
    self->writing_ = false;
    self->out_.pop_front();
    if (ec) return self->close();
    self->write_next();
  });
}

void Session::finish_response() {
  answering_ = false;
  on_disconnect_ = nullptr;
  if (!keep_alive_) return close();
  beast::error_code ec;
  stream_.socket().cancel(ec);  // completes the hang-up probe, which reads the next request
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
  if (answering_ && on_disconnect_) {
    auto cb = std::move(on_disconnect_);
    cb();
  }
}

}  // namespace

struct HttpServer::State {
  State(asio::io_context& io, HttpServerOptions o, HttpHandler h)
      : io(io), acceptor(asio::make_strand(io)), shared(std::make_shared<ServerShared>()) {
    shared->options = std::move(o);
    shared->handler = std::move(h);
  }
  void accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        if (shared->connections.load() >= shared->options.max_connections) {
          socket.close(ec);  // over the cap: refuse at once rather than queue without bound
        } else {
          std::make_shared<Session>(std::move(socket), shared)->start();
        }
      }
      accept();
    });
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

size_t HttpServer::open_connections() const { return state_->shared->connections.load(); }

}  // namespace troupe::net
