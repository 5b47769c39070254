#pragma once
// ApiError: a client-facing error in OpenAI's shape,
// {"error": {"message", "type", "param", "code"}}, with its HTTP status.
#include <string>

namespace troupe::net {

struct ApiError {
  unsigned status = 400;
  std::string message;
  std::string param;  // the request field at fault; empty: null
  std::string type = "invalid_request_error";

  std::string body() const;
};

}  // namespace troupe::net
