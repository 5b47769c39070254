#pragma once
// OpenAI's logprobs objects, built from the tokens the gateway sends a sink. A token's name here
// is the tokenizer's decode of its id alone (special tokens spelled out, a byte of a character
// split across tokens as U+FFFD); chat's `bytes` are that decode's raw bytes, so a client can put
// split characters back together. Completions' text_offset counts code points of the text the
// client actually got (each token's share of it), so offsets stay right around stop strings.
#include <cstdint>
#include <span>

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

 private:
  nlohmann::ordered_json completion(std::span<const GeneratedToken> tokens);
  nlohmann::ordered_json chat(std::span<const GeneratedToken> tokens) const;
  nlohmann::ordered_json chat_entry(int32_t id, float logprob) const;

  ApiKind kind_;
  Tokenizer tokenizer_;
  int64_t text_offset_ = 0;  // code points of the choice's text before the next token
};

// JSON has no infinities: a token the model rules out entirely gets -9999 (as vLLM reports it).
double json_logprob(float logprob);

}  // namespace troupe::net
