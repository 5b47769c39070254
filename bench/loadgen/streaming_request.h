#pragma once
// StreamingRequest: one benchmark request on its own connection, asynchronous on the caller's
// io_context: connect, POST the body, read the response body as it arrives and hand the bytes,
// stamped with their arrival time, to a CompletionStreamReader. It always ends by calling `done`
// exactly once, with a record that says what failed (refused connection, HTTP status, timeout,
// broken stream) — nothing here throws at the caller.
#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "bench/loadgen/completion_stream.h"
#include "bench/loadgen/http_target.h"

namespace troupe::loadgen {

struct StreamingRequestSpec {
  const HttpTarget* target = nullptr;
  boost::asio::ip::tcp::resolver::results_type endpoints;  // resolved once for the whole run
  std::string path;  // e.g. /v1/completions
  std::string body;  // JSON
  int32_t prompt_tokens = 0;
  std::chrono::milliseconds timeout{600'000};  // the whole request, connect to last byte
};

class StreamingRequest : public std::enable_shared_from_this<StreamingRequest> {
 public:
  using Done = std::function<void(RequestRecord)>;

  // Starts at once; the returned handle only serves to cancel().
  static std::shared_ptr<StreamingRequest> start(boost::asio::io_context& io, StreamingRequestSpec spec, Done done);
  // Ends the request now (on the io_context's thread); its record has cancelled = true.
  void cancel();

 private:
  StreamingRequest(boost::asio::io_context& io, StreamingRequestSpec spec, Done done);
  void run();
  void on_connect(const boost::system::error_code& ec);
  void on_write(const boost::system::error_code& ec);
  void on_header(const boost::system::error_code& ec);
  void read_body();
  void on_body(boost::system::error_code ec);
  void abort(std::string reason, bool cancelled);
  void fail(const boost::system::error_code& ec);
  void complete(RequestRecord record);

  StreamingRequestSpec spec_;
  Done done_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer deadline_;
  boost::beast::flat_buffer buffer_;
  boost::beast::http::request<boost::beast::http::string_body> request_;
  boost::beast::http::response_parser<boost::beast::http::buffer_body> parser_;
  std::array<char, 16384> chunk_{};  // body bytes of one read
  Clock::time_point started_;
  std::optional<CompletionStreamReader> reader_;
  std::string error_body_;           // the start of a non-200 answer, for the error message
  std::string abort_reason_;         // set when we closed the socket ourselves
  bool cancelled_ = false;
  bool finished_ = false;
};

}  // namespace troupe::loadgen
