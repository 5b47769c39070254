#pragma once
// The one place an engine error becomes an HTTP answer, for every API (OpenAI, TGI, Triton): a
// troupe_error code picks the status and OpenAI's error type, so a refusal is a 400 and an engine
// that is gone or draining a 503 on every route alike.
#include <string>

#include "actors/troupe_error.h"
#include "net/api_error.h"
#include "net/http_server.h"

namespace troupe::net {

// invalid_request: 400 (the client can fix it); engine_lost, shutting_down: 503 (retry later or
// elsewhere; no fault of the request); any other: 500 (the server failed).
unsigned http_status(troupe_error code);

// The ApiError a RequestSink::on_error answers with: the status above, its OpenAI type
// (invalid_request_error, service_unavailable, server_error) and `message` as the text.
ApiError engine_error(troupe_error code, const std::string& message);

// Ends an answer with `e`: the whole reply when nothing was streamed, else one SSE event with the
// error object and the stream's end (the status went out with the headers).
void end_with_error(HttpResponder& responder, bool streaming, const ApiError& e);

}  // namespace troupe::net
