#pragma once
// HttpTarget: where the benchmark sends requests, parsed from a plain-HTTP base URL
// (http://host[:port][/base]); and the one synchronous call made before the load starts, asking
// the server which model it serves.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace troupe::loadgen {

struct HttpTarget {
  std::string host;
  std::string port = "80";
  std::string base_path;  // without a trailing '/', maybe empty

  std::string host_header() const { return port == "80" ? host : host + ":" + port; }
  // base_path + endpoint, with exactly one '/' between them.
  std::string path_of(std::string_view endpoint) const;
};

// nullopt with `error` set for anything but http:// URLs with a host.
std::optional<HttpTarget> parse_http_url(std::string_view url, std::string& error);

// GET <base><endpoint>: the body of a 200 answer; nullopt (with `error`) otherwise.
std::optional<std::string> http_get(const HttpTarget& target, std::string_view endpoint, std::chrono::milliseconds timeout,
                                    std::string& error);

// GET <base>/v1/models and the first model's id; nullopt (with `error`) if the server does not say.
std::optional<std::string> fetch_first_model_id(const HttpTarget& target, std::chrono::milliseconds timeout,
                                                std::string& error);

}  // namespace troupe::loadgen
