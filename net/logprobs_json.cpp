#include "net/logprobs_json.h"

#include <cmath>

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
    ordered_json top = ordered_json::object();
    for (const TokenLogprob& alt : t.logprobs.top) {
      // Two ids may decode to the same text; the dict keeps the likelier (listed first).
      const std::string text = tokenizer_.decode(std::span(&alt.token, 1));
      if (!top.contains(text)) top[text] = json_logprob(alt.logprob);
    }
    tops.push_back(std::move(top));
    offsets.push_back(text_offset_);
    text_offset_ += count_code_points(t.text);
  }
  return {{"tokens", std::move(names)}, {"token_logprobs", std::move(logprobs)}, {"top_logprobs", std::move(tops)},
          {"text_offset", std::move(offsets)}};
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
