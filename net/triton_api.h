#pragma once
// Triton's generate extension: POST /v2/models/{name}[/versions/{v}]/generate and
// .../generate_stream. {"text_input", "parameters": {...}} in (parameters may also sit at the top
// level, as TensorRT-LLM's and vLLM's Triton backends take them); {"model_name",
// "model_version", "text_output"} out, once, or as SSE events with one text delta each.
//
// Parameters use OpenAI's names (max_tokens, default 16; temperature, default 1 — pass 0 for
// greedy; top_p, top_k, min_p, repetition_penalty, presence/frequency_penalty, seed or
// random_seed, ignore_eos), plus stop or stop_words, stream, and exclude_input_in_output
// (default true here: text_output is the generated text only; false prepends text_input).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "actors/gateway_actor.h"
#include "engine/model_folder.h"
#include "engine/sampling/sampling_params.h"
#include "net/api_error.h"
#include "net/api_routes.h"
#include "net/http_server.h"

namespace troupe::net {

// Which model, version and endpoint a path names.
struct TritonRoute {
  std::string model;
  std::string version;  // empty when the path names none
  bool stream = false;  // generate_stream
};

// "/v2/models/{name}[/versions/{v}]/generate[_stream]"; nullopt for every other path.
std::optional<TritonRoute> parse_triton_route(std::string_view path);

struct TritonRequest {
  std::vector<int32_t> prompt_ids;
  SamplingParams params;
  std::vector<std::string> stop;
  std::string output_prefix;  // exclude_input_in_output false: text_input, else empty
};

inline constexpr int32_t kTritonDefaultMaxTokens = 16;

// Checks the route's model (404 naming "model_name" / "model_version") and the body; tokenizes
// text_input. Errors name the field ("text_input", "parameters.temperature", ...).
std::variant<TritonRequest, ApiError> parse_triton_request(const TritonRoute& route, const std::string& body,
                                                           const ModelFolder& model, const ServedNames& served_name);

// {"model_name", "model_version": "1", "text_output"}: the whole answer, or one stream event.
std::string triton_response(const std::string& model_name, const std::string& text_output);

// The generate extension's error object, {"error": message}.
std::string triton_error(const std::string& message);

// What a request the server ended early says (gateway reason "abort": --request-timeout passed,
// or the engine stopped): generate answers 503 with it, generate_stream ends with it as the last
// event.
inline constexpr const char* kTritonAbortMessage =
    "the server stopped generating before the end (its --request-timeout passed, or it is shutting down or lost its "
    "engine); the output is incomplete";

// Writes one Triton answer: one body, or one SSE event per text delta (one empty event when the
// request produced no text, so a client always sees a response). A request the server aborted
// ends in the extension's error object instead: the whole answer (503), or the last event.
class TritonSink : public RequestSink {
 public:
  TritonSink(std::shared_ptr<HttpResponder> responder, bool stream, std::string model_name, std::string output_prefix);
  void start();  // streams: sends the headers
  void on_output(const std::string& delta, std::vector<GeneratedToken> tokens) override;  // text only
  void on_finish(const std::string& reason, int32_t prompt_tokens, int32_t completion_tokens) override;
  void on_error(troupe_error code, const std::string& message) override;

 private:
  std::shared_ptr<HttpResponder> responder_;
  bool stream_;
  std::string model_;
  std::string text_;  // non-streamed: everything so far; streamed: the prefix not yet sent
  bool sent_ = false;
};

void handle_triton_generate(ApiContext& ctx, const TritonRoute& route, const HttpRequest& req,
                            std::shared_ptr<HttpResponder> responder);

}  // namespace troupe::net
