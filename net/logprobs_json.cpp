#include "net/logprobs_json.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace troupe::net {
namespace {

using nlohmann::ordered_json;

int64_t count_code_points(const std::string& utf8) {
  int64_t n = 0;
  for (unsigned char c : utf8) n += (c & 0xC0) != 0x80;  // every byte but continuation bytes
  return n;
}

}  // namespace

double json_logprob(float logprob) { return std::isfinite(logprob) ? logprob : -9999.0; }

ordered_json LogprobsWriter::next(std::span<const GeneratedToken> tokens) {
  return kind_ == ApiKind::Chat ? chat(tokens) : completion(tokens);
}

ordered_json LogprobsWriter::completion(std::span<const GeneratedToken> tokens) {
  ordered_json names = ordered_json::array(), logprobs = ordered_json::array(), tops = ordered_json::array(),
               offsets = ordered_json::array();
  for (const GeneratedToken& t : tokens) {
    const int32_t id = t.id;
    names.push_back(tokenizer_.decode(std::span(&id, 1)));
    logprobs.push_back(json_logprob(t.logprobs.logprob));
    tops.push_back(top_dict(t.logprobs.top, t.logprobs.top.size()));
    offsets.push_back(text_offset_);
    text_offset_ += count_code_points(t.text);
  }
  return {{"tokens", std::move(names)}, {"token_logprobs", std::move(logprobs)}, {"top_logprobs", std::move(tops)},
          {"text_offset", std::move(offsets)}};
}

ordered_json LogprobsWriter::top_dict(const std::vector<TokenLogprob>& alternatives, size_t n) const {
  ordered_json top = ordered_json::object();
  for (size_t i = 0; i < alternatives.size() && i < n; ++i) {
    // Two ids may decode to the same text; the dict keeps the likelier (listed first).
    const std::string text = tokenizer_.decode(std::span(&alternatives[i].token, 1));
    if (!top.contains(text)) top[text] = json_logprob(alternatives[i].logprob);
  }
  return top;
}

ordered_json LogprobsWriter::echo(const std::vector<int32_t>& prompt,
                                  const std::vector<std::optional<PromptTokenLogprobs>>& logprobs,
                                  const std::string& echo_text, int32_t top_n) {
  ordered_json names = ordered_json::array(), values = ordered_json::array(), tops = ordered_json::array(),
               offsets = ordered_json::array();
  int64_t offset = 0;
  for (size_t i = 0; i < prompt.size(); ++i) {
    const std::string name = tokenizer_.decode(std::span(&prompt[i], 1));
    names.push_back(name);
    const bool scored = i < logprobs.size() && logprobs[i];
    values.push_back(scored ? ordered_json(json_logprob(logprobs[i]->logprob)) : ordered_json(nullptr));
    tops.push_back(scored ? top_dict(logprobs[i]->top, static_cast<size_t>(std::max(top_n, 0))) : ordered_json(nullptr));
    offsets.push_back(offset);
    offset += count_code_points(name);
  }
  text_offset_ = count_code_points(echo_text);
  return {{"tokens", std::move(names)}, {"token_logprobs", std::move(values)}, {"top_logprobs", std::move(tops)},
          {"text_offset", std::move(offsets)}};
}

ordered_json prompt_logprobs_json(const Tokenizer& tokenizer, const std::vector<std::optional<PromptTokenLogprobs>>& logprobs) {
  auto entry = [&](int32_t id, float logprob, int32_t rank) {
    return ordered_json{{"logprob", json_logprob(logprob)}, {"rank", rank}, {"decoded_token", tokenizer.decode(std::span(&id, 1))}};
  };
  ordered_json out = ordered_json::array();
  for (const std::optional<PromptTokenLogprobs>& p : logprobs) {
    if (!p) {
      out.push_back(nullptr);
      continue;
    }
    ordered_json position = {{std::to_string(p->token), entry(p->token, p->logprob, p->rank)}};
    for (size_t k = 0; k < p->top.size(); ++k) {
      const std::string key = std::to_string(p->top[k].token);
      if (!position.contains(key)) position[key] = entry(p->top[k].token, p->top[k].logprob, static_cast<int32_t>(k) + 1);
    }
    out.push_back(std::move(position));
  }
  return out;
}

void append_completion_logprobs(ordered_json& all, const ordered_json& more) {
  if (all.is_null()) {
    all = more;
    return;
  }
  for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"})
    for (const auto& v : more.at(key)) all[key].push_back(v);
}

ordered_json LogprobsWriter::chat_entry(int32_t id, float logprob) const {
  const std::span<const int32_t> one(&id, 1);
  ordered_json bytes = ordered_json::array();
  for (unsigned char b : tokenizer_.decode_bytes(one)) bytes.push_back(b);
  return {{"token", tokenizer_.decode(one)}, {"logprob", json_logprob(logprob)}, {"bytes", std::move(bytes)}};
}

ordered_json LogprobsWriter::chat(std::span<const GeneratedToken> tokens) const {
  ordered_json content = ordered_json::array();
  for (const GeneratedToken& t : tokens) {
    ordered_json entry = chat_entry(t.id, t.logprobs.logprob);
    ordered_json top = ordered_json::array();
    for (const TokenLogprob& alt : t.logprobs.top) top.push_back(chat_entry(alt.token, alt.logprob));
    entry["top_logprobs"] = std::move(top);
    content.push_back(std::move(entry));
  }
  return {{"content", std::move(content)}};
}

}  // namespace troupe::net
