#include "net/error_status.h"

#include "net/api_submit.h"
#include "net/openai_api.h"

namespace troupe::net {

unsigned http_status(troupe_error code) {
  switch (code) {
    case troupe_error::invalid_request: return 400;
    case troupe_error::engine_lost:
    case troupe_error::shutting_down: return 503;
    case troupe_error::step_failed:
    case troupe_error::executor_refused:
    case troupe_error::executor_replaced:
    case troupe_error::node_refused: return 500;
  }
  return 500;  // a code from a newer peer: the server's failure, not the client's
}

ApiError engine_error(troupe_error code, const std::string& message) {
  const unsigned status = http_status(code);
  const char* type = status == 400 ? "invalid_request_error" : status == 503 ? "service_unavailable" : "server_error";
  return ApiError{status, message, "", type};
}

void end_with_error(HttpResponder& responder, bool streaming, const ApiError& e) {
  if (!streaming) return reply_api_error(responder, e);
  responder.write(CompletionFormatter::sse(e.body()));
  responder.end_stream();
}

}  // namespace troupe::net
