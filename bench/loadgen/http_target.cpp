#include "bench/loadgen/http_target.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace troupe::loadgen {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::string HttpTarget::path_of(std::string_view endpoint) const {
  while (endpoint.starts_with('/')) endpoint.remove_prefix(1);
  return base_path + "/" + std::string(endpoint);
}

std::optional<HttpTarget> parse_http_url(std::string_view url, std::string& error) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) {
    error = url.starts_with("https://") ? "https is not supported (plain http only)" : "the URL must start with http://";
    return std::nullopt;
  }
  url.remove_prefix(scheme.size());
  HttpTarget t;
  const size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view path = url.substr(slash);
    while (path.ends_with('/')) path.remove_suffix(1);
    t.base_path = path;
  }
  if (authority.starts_with('[')) {  // [IPv6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unclosed '[' in the URL's host";
      return std::nullopt;
    }
    t.host = authority.substr(1, close - 1);
    authority.remove_prefix(close + 1);
    if (authority.starts_with(':')) t.port = authority.substr(1);
  } else {
    const size_t colon = authority.rfind(':');
    t.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) t.port = authority.substr(colon + 1);
  }
  if (t.host.empty() || t.port.empty() || t.port.find_first_not_of("0123456789") != std::string::npos) {
    error = "expected http://host[:port][/path]";
    return std::nullopt;
  }
  return t;
}

std::optional<std::string> http_get(const HttpTarget& target, std::string_view endpoint, std::chrono::milliseconds timeout,
                                    std::string& error) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  http::request<http::empty_body> req{http::verb::get, target.path_of(endpoint), 11};
  req.set(http::field::host, target.host_header());
  http::response<http::string_body> res;
  beast::error_code failure;
  // Asynchronous steps run with a deadline: blocking Beast calls have no timeout.
  asio::ip::tcp::resolver resolver(io);
  resolver.async_resolve(target.host, target.port, [&](beast::error_code ec, auto endpoints) {
    if (ec) return void(failure = ec);
    stream.expires_after(timeout);
    stream.async_connect(endpoints, [&](beast::error_code ec, auto) {
      if (ec) return void(failure = ec);
      http::async_write(stream, req, [&](beast::error_code ec, size_t) {
        if (ec) return void(failure = ec);
        http::async_read(stream, buffer, res, [&](beast::error_code ec, size_t) { failure = ec; });
      });
    });
  });
  io.run_for(timeout + std::chrono::seconds(1));
  if (failure || res.result_int() == 0) {
    error = failure ? failure.message() : "no answer";
    return std::nullopt;
  }
  if (res.result() != http::status::ok) {
    error = "HTTP " + std::to_string(res.result_int());
    return std::nullopt;
  }
  return std::move(res.body());
}

std::optional<std::string> fetch_first_model_id(const HttpTarget& target, std::chrono::milliseconds timeout,
                                                std::string& error) {
  const std::optional<std::string> body = http_get(target, "/v1/models", timeout, error);
  if (!body) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(*body, nullptr, false);
  if (j.is_object() && j.contains("data") && j["data"].is_array() && !j["data"].empty() &&
      j["data"][0].contains("id") && j["data"][0]["id"].is_string())
    return j["data"][0]["id"].get<std::string>();
  error = "no model listed";
  return std::nullopt;
}

}  // namespace troupe::loadgen
