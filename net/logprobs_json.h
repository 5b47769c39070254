#pragma once
// OpenAI's logprobs objects, built from the tokens the gateway sends a sink. A token's name here
// is the tokenizer's decode of its id alone (special tokens spelled out, a byte of a character
// split across tokens as U+FFFD); chat's `bytes` are that decode's raw bytes, so a client can put
// split characters back together. Completions' text_offset counts code points of the text the
// client actually got (each token's share of it), so offsets stay right around stop strings.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/gateway_actor.h"
#include "engine/tokenizer/tokenizer.h"
#include "net/openai_api.h"

namespace troupe::net {

// The "logprobs" value of one choice, chunk after chunk (or once, for all its tokens).
class LogprobsWriter {
 public:
  LogprobsWriter(ApiKind kind, Tokenizer tokenizer) : kind_(kind), tokenizer_(std::move(tokenizer)) {}

  // Completions: {"tokens", "token_logprobs", "top_logprobs": [{text: logprob}], "text_offset"};
  // chat: {"content": [{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob",
  // "bytes"}]}]}. Offsets continue from the tokens of earlier calls.
  nlohmann::ordered_json next(std::span<const GeneratedToken> tokens);
  // Completions' echo with logprobs: the entries of the prompt's tokens, which lead the generated
  // ones' (null token_logprobs and top_logprobs for the first token, which nothing predicts, and
  // for any position not scored, as OpenAI's legacy answer has it), each with at most top_n
  // alternatives. Their text_offset adds up each prompt token's decode, as vLLM's does; the
  // generated tokens' then count from the end of `echo_text`, the prompt text the choice starts
  // with. Call before next().
  nlohmann::ordered_json echo(const std::vector<int32_t>& prompt,
                              const std::vector<std::optional<PromptTokenLogprobs>>& logprobs,
                              const std::string& echo_text, int32_t top_n);

 private:
  nlohmann::ordered_json completion(std::span<const GeneratedToken> tokens);
  // Completions' top_logprobs entry: decoded text -> logprob of the first `n` alternatives.
  nlohmann::ordered_json top_dict(const std::vector<TokenLogprob>& alternatives, size_t n) const;
  nlohmann::ordered_json chat(std::span<const GeneratedToken> tokens) const;
  nlohmann::ordered_json chat_entry(int32_t id, float logprob) const;

  ApiKind kind_;
  Tokenizer tokenizer_;
  int64_t text_offset_ = 0;  // code points of the choice's text before the next token
};

// JSON has no infinities: a token the model rules out entirely gets -9999 (as vLLM reports it).
double json_logprob(float logprob);

// vLLM's prompt_logprobs value: one entry per prompt token, null for the first (nothing predicts
// it) and for any position not scored, else {"<token id>": {"logprob", "rank", "decoded_token"}}
// with the prompt token first, then its alternatives not listed yet, most likely first.
nlohmann::ordered_json prompt_logprobs_json(const Tokenizer& tokenizer,
                                            const std::vector<std::optional<PromptTokenLogprobs>>& logprobs);

// Appends a completions logprobs object's lists to `all`'s (null: becomes a copy).
void append_completion_logprobs(nlohmann::ordered_json& all, const nlohmann::ordered_json& more);

}  // namespace troupe::net
