#pragma once
// Hugging Face TGI's POST /generate and /generate_stream: {"inputs", "parameters": {...}} in;
// {"generated_text", "details"?} or SSE token events out. Parsing and formatting are pure; the
// sink writes one request's answer as the gateway reports it; the handler glues them to HTTP.
//
// Parameter mapping (TGI's rules, so a TGI client gets what it expects):
//   max_new_tokens -> max_tokens (default 100, as TGI's router; capped by the context window),
//   do_sample false and no warper given (temperature != 1, top_k > 0, top_p < 1) -> greedy,
//   else temperature / top_p / top_k as given; repetition_penalty, frequency_penalty, seed and
//   stop pass through; truncate keeps the last N prompt tokens; return_full_text prepends inputs;
//   top_n_tokens (0..20) lists that many most likely alternatives per token.
//   typical_p, best_of > 1, watermark, grammar, decoder_input_details: 400.
//
// Tokens are {"id", "text", "logprob", "special"}: text is the token's share of generated_text
// (so the texts of the events concatenate to it; "" for a special token), logprob from the raw
// distribution (streams and details ask the engine for it, as TGI always reports it).
// details.prefill stays empty (no prompt logprobs). A stream with no token at all (aborted
// before the first, or a stop sequence at the very start) ends with one empty token, id -1.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/gateway_actor.h"
#include "engine/model_folder.h"
#include "engine/sampling/sampling_params.h"
#include "net/api_error.h"
#include "net/api_routes.h"
#include "net/http_server.h"

namespace troupe::net {

struct TgiRequest {
  std::vector<int32_t> prompt_ids;
  SamplingParams params;  // greedy unless TGI's rules above say sample; seed unset unless given
  std::vector<std::string> stop;
  bool details = false;
  int32_t top_n_tokens = 0;      // alternatives listed per token
  std::string full_text_prefix;  // return_full_text: the inputs, else empty
};

inline constexpr int32_t kTgiDefaultMaxNewTokens = 100;

// Parses and checks a body against the model; tokenizes `inputs`. Errors name the field
// ("inputs", "parameters.top_p", ...).
std::variant<TgiRequest, ApiError> parse_tgi_request(const std::string& body, const ModelFolder& model);

struct TgiDetails {
  std::string finish_reason;  // "length" | "eos_token" | "stop_sequence" (or "abort")
  int32_t generated_tokens = 0;
  std::optional<uint64_t> seed;  // set when the request sampled
  nlohmann::ordered_json tokens = nlohmann::ordered_json::array();  // non-streamed: one token object each
  nlohmann::ordered_json top_tokens = nullptr;  // non-streamed with top_n_tokens: a list of tokens per token
};

// The gateway's reason ("stop" = EOS, "stop_string", "length", "abort") in TGI's words.
std::string tgi_finish_reason(const std::string& gateway_reason);

// {"generated_text", "details"?}.
std::string tgi_generate_response(const std::string& generated_text, const std::optional<TgiDetails>& details);

// One /generate_stream event: {"index", "token", "top_tokens", "generated_text", "details"};
// top_tokens is null unless asked; generated_text and details are null but on the last.
std::string tgi_stream_event(int64_t index, const nlohmann::ordered_json& token, const nlohmann::ordered_json& top_tokens,
                             const std::optional<std::string>& generated_text, const std::optional<TgiDetails>& details);

// Writes one TGI answer. Streams send an event per token, holding the latest back so the last
// event carries a token with the full text and details, as TGI's last event does.
class TgiSink : public RequestSink {
 public:
  // `tokenizer` tells special tokens and names top_tokens.
  TgiSink(std::shared_ptr<HttpResponder> responder, bool stream, const TgiRequest& request, Tokenizer tokenizer);
  void start();  // streams: sends the headers
  void on_output(const std::string& text, std::vector<GeneratedToken> tokens) override;
  void on_finish(const std::string& reason, int32_t prompt_tokens, int32_t completion_tokens) override;
  void on_error(troupe_error code, const std::string& message) override;

 private:
  nlohmann::ordered_json token_json(int32_t id, const std::string& text, float logprob) const;
  nlohmann::ordered_json top_tokens_json(const GeneratedToken& t) const;  // null unless top_n_tokens
  void send_event(const GeneratedToken& token, const std::optional<TgiDetails>& last);
  std::shared_ptr<HttpResponder> responder_;
  bool stream_;
  bool details_;
  int32_t top_n_tokens_;
  std::optional<uint64_t> seed_;
  Tokenizer tokenizer_;
  std::string text_;  // the generated text so far, full_text_prefix first
  std::optional<GeneratedToken> held_;  // streams: the latest token, not sent yet
  nlohmann::ordered_json tokens_ = nlohmann::ordered_json::array();      // non-streamed details
  nlohmann::ordered_json top_tokens_ = nlohmann::ordered_json::array();  // non-streamed details
  int64_t index_ = 0;
};

// POST /generate (stream false) and /generate_stream (stream true).
void handle_tgi_generate(ApiContext& ctx, const HttpRequest& req, std::shared_ptr<HttpResponder> responder, bool stream);

}  // namespace troupe::net
