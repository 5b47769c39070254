#pragma once
// The answer to one OpenAI /v1/completions or /v1/chat/completions request, written as the
// gateway reports progress: n choices (one gateway request each) sharing one HTTP response, as one
// JSON body or as Server-Sent Events, with each choice's logprobs when the request asked. A batch
// of prompts is one response too: choice prompt * n + k is the k-th of that prompt.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/gateway_actor.h"
#include "net/api_routes.h"
#include "net/error_status.h"
#include "net/http_server.h"
#include "net/logprobs_json.h"
#include "net/openai_api.h"

namespace troupe::net {

// The gateway calls every sink of a request from its one thread, so no locking.
class CompletionResponse {
 public:
  // `tokenizer`: names the tokens of logprobs and prompt logprobs; none when the request asked for
  // neither. `logprobs`: it asked for the generated tokens'. `choices` in all, `per_prompt` (n) of
  // them from each prompt of the batch.
  CompletionResponse(std::shared_ptr<HttpResponder> responder, CompletionFormatter formatter, bool stream,
                     bool include_usage, int32_t choices, int32_t per_prompt, std::optional<Tokenizer> tokenizer,
                     bool logprobs);

  // Completions' echo: choice i's text starts with prompt_texts[i / n] (its prompt's text), in the
  // body or in front of the choice's first streamed piece; with `logprobs` >= 0 (and the prompt
  // logprobs asked for), the prompt tokens' entries, with at most that many alternatives, lead
  // the choice's logprobs likewise. Call before start().
  void echo_prompts(std::vector<std::string> prompt_texts, int32_t logprobs = -1);
  void start();  // streams: the headers and chat's first chunk of each choice
  // Choice `index`'s prompt logprobs (RequestSink::on_prompt_logprobs), before its first output.
  void prompt_logprobs(int32_t index, const std::vector<int32_t>& prompt,
                       std::vector<std::optional<PromptTokenLogprobs>> logprobs);
  void output(int32_t index, const std::string& text, std::vector<GeneratedToken> tokens);
  void finish(int32_t index, const std::string& gateway_reason, int32_t prompt_tokens, int32_t completion_tokens);
  // Ends the response with `e` (net/error_status.h): its status when not streamed, else an SSE
  // error event. Once: the first choice to fail ends the whole response.
  void error(const ApiError& e);

 private:
  struct Choice {
    CompletionChoice answer;
    std::vector<GeneratedToken> tokens;    // not streamed and logprobs asked: all of them, for the body
    std::optional<LogprobsWriter> writer;  // logprobs asked
    bool echo_pending = false;             // streamed with echo: the prompt's text not sent yet
    nlohmann::ordered_json echo_logprobs;  // echo with logprobs: the prompt tokens' entries, not sent yet
  };
  const std::string& echo_of(int32_t index) const { return echo_[static_cast<size_t>(index / per_prompt_)]; }
  std::shared_ptr<HttpResponder> responder_;
  CompletionFormatter fmt_;
  bool stream_;
  bool include_usage_;
  int32_t per_prompt_;
  std::vector<Choice> choices_;
  std::vector<std::string> echo_;  // each prompt's text when the request asked for echo
  int32_t echo_logprobs_ = -1;     // echo with logprobs: alternatives listed per prompt token
  std::optional<Tokenizer> tokenizer_;
  int32_t finished_ = 0;
  bool failed_ = false;
  int32_t prompt_tokens_ = 0;
  int32_t completion_tokens_ = 0;
};

// One choice's view of the shared response.
class ChoiceSink : public RequestSink {
 public:
  ChoiceSink(std::shared_ptr<CompletionResponse> response, int32_t index) : response_(std::move(response)), index_(index) {}
  void on_output(const std::string& text, std::vector<GeneratedToken> tokens) override {
    response_->output(index_, text, std::move(tokens));
  }
  void on_prompt_logprobs(const std::vector<int32_t>& prompt,
                          std::vector<std::optional<PromptTokenLogprobs>> logprobs) override {
    response_->prompt_logprobs(index_, prompt, std::move(logprobs));
  }
  void on_finish(const std::string& reason, int32_t prompt_tokens, int32_t completion_tokens) override {
    response_->finish(index_, reason, prompt_tokens, completion_tokens);
  }
  void on_error(troupe_error code, const std::string& message) override {
    response_->error(engine_error(code, message));
  }

 private:
  std::shared_ptr<CompletionResponse> response_;
  int32_t index_;
};

// POST /v1/completions (kind Completion) and /v1/chat/completions (kind Chat).
void handle_completion(ApiContext& ctx, ApiKind kind, const HttpRequest& req, std::shared_ptr<HttpResponder> responder);

}  // namespace troupe::net
