#pragma once
// ApiError: a client-facing error in OpenAI's shape,
// {"error": {"message", "type", "param", "code"}}, with its HTTP status.
#include <string>

#include <nlohmann/json.hpp>

namespace troupe::net {

struct ApiError {
  unsigned status = 400;
  std::string message;
  std::string param;  // the request field at fault; empty: null
  std::string type = "invalid_request_error";

  std::string body() const;
};

// Every JSON body the API writes: compact, and never throws (invalid UTF-8 is replaced).
inline std::string dump_json(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace troupe::net
