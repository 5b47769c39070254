#include "bench/loadgen/streaming_request.h"

#include <limits>

#include <boost/asio/connect.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace troupe::loadgen {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

std::shared_ptr<StreamingRequest> StreamingRequest::start(asio::io_context& io, StreamingRequestSpec spec, Done done) {
  std::shared_ptr<StreamingRequest> r(new StreamingRequest(io, std::move(spec), std::move(done)));
  r->run();
  return r;
}

StreamingRequest::StreamingRequest(asio::io_context& io, StreamingRequestSpec spec, Done done)
    : spec_(std::move(spec)), done_(std::move(done)), socket_(io), deadline_(io) {
  request_ = {http::verb::post, spec_.path, 11};
  request_.set(http::field::host, spec_.target->host_header());
  request_.set(http::field::content_type, "application/json");
  request_.set(http::field::accept, "text/event-stream");
  request_.set(http::field::user_agent, "troupe-bench");
  request_.keep_alive(false);
  request_.body() = std::move(spec_.body);
  request_.prepare_payload();
  parser_.body_limit(std::numeric_limits<uint64_t>::max());  // streams are as long as they are
}

void StreamingRequest::run() {
  started_ = Clock::now();
  reader_.emplace(started_, spec_.prompt_tokens);
  deadline_.expires_after(spec_.timeout);
  deadline_.async_wait([weak = weak_from_this(), ms = spec_.timeout.count()](const error_code& ec) {
    if (auto self = weak.lock(); self && !ec) self->abort("timeout after " + std::to_string(ms) + " ms", false);
  });
  asio::async_connect(socket_, spec_.endpoints,
                      [self = shared_from_this()](const error_code& ec, const auto&) { self->on_connect(ec); });
}

void StreamingRequest::cancel() { abort("cancelled", true); }

void StreamingRequest::on_connect(const error_code& ec) {
  if (ec) return fail(ec);
  error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  http::async_write(socket_, request_, [self = shared_from_this()](const error_code& ec, size_t) { self->on_write(ec); });
}

void StreamingRequest::on_write(const error_code& ec) {
  if (ec) return fail(ec);
  http::async_read_header(socket_, buffer_, parser_,
                          [self = shared_from_this()](const error_code& ec, size_t) { self->on_header(ec); });
}

void StreamingRequest::on_header(const error_code& ec) {
  if (ec) return fail(ec);
  read_body();
}

void StreamingRequest::read_body() {
  if (parser_.is_done()) return on_body({});
  parser_.get().body().data = chunk_.data();
  parser_.get().body().size = chunk_.size();
  // read_some, not read: read returns only when the buffer is full or the message is done, and
  // would stamp every token of a stream with the time of the last.
  http::async_read_some(socket_, buffer_, parser_,
                        [self = shared_from_this()](error_code ec, size_t) { self->on_body(ec); });
}

void StreamingRequest::on_body(error_code ec) {
  if (ec == http::error::need_buffer) ec = {};  // our chunk_ filled up: not an error
  if (ec) return fail(ec);
  const Clock::time_point now = Clock::now();
  const size_t got = parser_.get().body().data ? chunk_.size() - parser_.get().body().size : 0;
  parser_.get().body().data = nullptr;
  const std::string_view bytes(chunk_.data(), got);
  if (parser_.get().result() == http::status::ok) {
    reader_->on_bytes(bytes, now);
    // [DONE] ends the measurement even if the server is slow to end the body.
    if (reader_->saw_done() || reader_->failed()) return complete(reader_->finish(now));
  } else if (error_body_.size() < 300) {
    error_body_.append(bytes.substr(0, 300 - error_body_.size()));
  }
  if (!parser_.is_done()) return read_body();
  if (parser_.get().result() == http::status::ok) return complete(reader_->finish(now));
  RequestRecord r;
  r.prompt_tokens = spec_.prompt_tokens;
  r.error = "HTTP " + std::to_string(parser_.get().result_int()) + ": " + error_body_;
  complete(std::move(r));
}

void StreamingRequest::abort(std::string reason, bool cancelled) {
  if (finished_) return;
  abort_reason_ = std::move(reason);
  cancelled_ = cancelled;
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);  // the pending operation ends with operation_aborted and reports
}

void StreamingRequest::fail(const error_code& ec) {
  RequestRecord r;
  r.prompt_tokens = spec_.prompt_tokens;
  r.cancelled = cancelled_;
  if (!abort_reason_.empty()) r.error = abort_reason_;
  else if (parser_.is_header_done()) r.error = "stream broken: " + ec.message();
  else r.error = "connection: " + ec.message();
  complete(std::move(r));
}

void StreamingRequest::complete(RequestRecord record) {
  if (finished_) return;
  finished_ = true;
  deadline_.cancel();
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  record.ok = record.error.empty();
  Done done = std::move(done_);
  done(std::move(record));
}

}  // namespace troupe::loadgen
