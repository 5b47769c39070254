#include "net/http_session.h"

#include <deque>
#include <optional>

#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace troupe::net::detail {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

}  // namespace

// One connection. Requests are handled one at a time, in order; while a handler answers, a read
// keeps taking what the client sends (a pipelined request, for later) and notices a reset.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<ServerShared> shared, ConnectionRegistry::Id id)
      : stream_(std::move(socket)), shared_(std::move(shared)), id_(id) {}
  ~Session() { shared_->remove(id_); }

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_request(); });
  }
  // Everything below runs on the session's strand.
  void send_full(http::response<http::string_body> res);
  void send_stream_header(unsigned status, std::string content_type);
  void send_chunk(std::string chunk);
  void send_stream_end();
  void set_disconnect_callback(std::function<void()> cb) {
    if (closed_) cb();
    else on_disconnect_ = std::move(cb);
  }
  void close();
  auto executor() { return stream_.get_executor(); }

 private:
  void read_request();
  void read_header();
  void on_request(beast::error_code ec);
  void take_input();  // while answering: buffer what arrives, notice a reset
  void write_next();
  void finish_response();
  bool keep_alive() const { return keep_alive_ && !shared_->draining.load(); }

  beast::tcp_stream stream_;
  std::shared_ptr<ServerShared> shared_;
  const ConnectionRegistry::Id id_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<Session> self_hold_;  // set while a handler answers: responders hold weak refs
  bool first_request_ = true;
  bool keep_alive_ = false;
  bool closed_ = false;
  bool answering_ = false;    // a handler holds the request
  bool reading_ = false;      // a read is pending
  bool peer_eof_ = false;     // the client sent FIN: it may still read (half-close)
  std::function<void()> on_disconnect_;
  std::deque<std::shared_ptr<std::string>> out_;  // serialized bytes waiting to be written
  bool writing_ = false;
  bool response_done_ = false;  // all bytes of the response are queued
};

void ServerShared::close(const std::vector<ConnectionRegistry::Id>& ids) {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mutex);
    for (auto id : ids)
      if (auto it = sessions.find(id); it != sessions.end())
        if (auto s = it->second.lock()) live.push_back(std::move(s));
  }
  for (auto& s : live) asio::post(s->executor(), [s] { s->close(); });
}

class Responder : public HttpResponder {
 public:
  explicit Responder(std::weak_ptr<Session> s) : session_(std::move(s)) {}
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
    if (auto s = session_.lock())
      asio::post(s->executor(), [s, f = std::forward<F>(f)]() mutable { f(*s); });
  }
  std::weak_ptr<Session> session_;
};

void Session::read_request() {
  if (closed_) return;
  if (peer_eof_ && buffer_.size() == 0) return close();
  if (shared_->draining.load() && !first_request_) return close();  // a new connection still gets its 503
  shared_->set_busy(id_, false);
  parser_.emplace();
  parser_->body_limit(shared_->options.max_body_bytes);
  parser_->header_limit(shared_->options.max_header_bytes);
  if (first_request_ || buffer_.size() > 0) return read_header();
  // Kept alive: wait for the next request's first bytes, then give it the header deadline.
  stream_.expires_after(shared_->options.idle_timeout);
  reading_ = true;
  stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t n) {
    self->reading_ = false;
    self->buffer_.commit(n);
    if (ec) return self->close();
    self->read_header();
  });
}

void Session::read_header() {
  first_request_ = false;
  stream_.expires_after(shared_->options.header_timeout);
  reading_ = true;
  http::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec) {
      self->reading_ = false;
      return self->on_request(ec);
    }
    self->stream_.expires_after(self->shared_->options.read_timeout);
    http::async_read(self->stream_, self->buffer_, *self->parser_, [self](beast::error_code ec2, size_t) {
      self->reading_ = false;
      self->on_request(ec2);
    });
  });
}

void Session::on_request(beast::error_code ec) {
  if (closed_) return;
  if (ec == http::error::body_limit) {
    keep_alive_ = false;
    answering_ = true;
    self_hold_ = shared_from_this();
    shared_->set_busy(id_, true);
    Responder(weak_from_this())
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
  self_hold_ = shared_from_this();
  shared_->set_busy(id_, true);
  take_input();
  try {
    shared_->handler(req, std::make_shared<Responder>(weak_from_this()));
  } catch (const std::exception&) {
    Responder(weak_from_this()).reply(500, "application/json",
        R"({"error":{"message":"internal error","type":"server_error","param":null,"code":500}})", {});
  }
}

void Session::take_input() {
  // Bounded: past a header's worth of pipelined bytes the client waits for its answers (TCP
  // flow control) and a reset is noticed at the next write instead.
  if (reading_ || peer_eof_ || closed_ || buffer_.size() >= shared_->options.max_header_bytes) return;
  reading_ = true;
  stream_.socket().async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t n) {
    self->reading_ = false;
    self->buffer_.commit(n);
    if (self->closed_) return;
    if (ec == asio::error::eof) {
      self->peer_eof_ = true;  // half-closed: it may still read the answer
    } else if (ec && ec != asio::error::operation_aborted) {
      return self->close();    // reset: the client is gone
    }
    if (self->answering_) return self->take_input();
    self->read_request();      // finish_response cancelled this read: the next request
  });
}

void Session::send_full(http::response<http::string_body> res) {
  if (closed_ || !answering_ || response_done_) return;
  res.keep_alive(keep_alive());
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
  keep_alive_ = keep_alive();  // decided once, with the header that announces it
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
  auto keep = std::move(self_hold_);  // the pending I/O (or the caller) holds it from here
  stream_.expires_never();
  if (!keep_alive()) return close();
  if (!reading_) return read_request();
  beast::error_code ec;
  stream_.socket().cancel(ec);  // completes the pending read, which reads the next request
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  auto keep = std::move(self_hold_);
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
  shared_->remove(id_);
  if (answering_ && on_disconnect_) {
    auto cb = std::move(on_disconnect_);
    cb();
  }
}

std::shared_ptr<Session> make_session(tcp::socket socket, std::shared_ptr<ServerShared> shared,
                                      ConnectionRegistry::Id id) {
  return std::make_shared<Session>(std::move(socket), std::move(shared), id);
}

void start_session(const std::shared_ptr<Session>& session) { session->start(); }

}  // namespace troupe::net::detail
