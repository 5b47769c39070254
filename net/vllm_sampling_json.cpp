#include "net/vllm_sampling_json.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <string>

#include "net/api_submit.h"

namespace troupe::net {
namespace {

using nlohmann::ordered_json;

ApiError bad(const std::string& field, const std::string& what) { return ApiError{400, "'" + field + "' " + what, field}; }

bool in_vocab(int64_t id, int64_t vocab) { return id >= 0 && id < vocab; }

std::optional<ApiError> read_count(const ordered_json& body, const char* key, int32_t least, int32_t& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer() || it->get<int64_t>() < least || it->get<int64_t>() > INT32_MAX)
    return bad(key, "must be an integer >= " + std::to_string(least));
  out = static_cast<int32_t>(it->get<int64_t>());
  return std::nullopt;
}

std::optional<ApiError> read_stop_token_ids(const ordered_json& body, int64_t vocab, SamplingParams& p) {
  auto it = body.find("stop_token_ids");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_array()) return bad("stop_token_ids", "must be an array of token ids");
  for (const auto& v : *it) {
    if (!v.is_number_integer() || !in_vocab(v.get<int64_t>(), vocab))
      return bad("stop_token_ids", "must hold token ids in [0, " + std::to_string(vocab) + ")");
    const auto id = static_cast<int32_t>(v.get<int64_t>());
    if (std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), id) == p.stop_token_ids.end()) p.stop_token_ids.push_back(id);
  }
  return std::nullopt;
}

// OpenAI's shape: {"token id as a string": bias}. "01" and "1" name one token: the later wins.
std::optional<ApiError> read_logit_bias(const ordered_json& body, int64_t vocab, SamplingParams& p) {
  auto it = body.find("logit_bias");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_object()) return bad("logit_bias", "must be an object of token id to bias");
  std::map<int32_t, float> bias;
  for (const auto& [key, value] : it->items()) {
    int64_t id = -1;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (ec != std::errc() || end != key.data() + key.size() || !in_vocab(id, vocab))
      return bad("logit_bias", "keys must be token ids in [0, " + std::to_string(vocab) + ")");
    if (!value.is_number()) return bad("logit_bias", "values must be numbers");
    bias[static_cast<int32_t>(id)] = std::clamp(value.get<float>(), -100.0f, 100.0f);
  }
  p.logit_bias.assign(bias.begin(), bias.end());
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> read_vllm_sampling_fields(const ordered_json& body, int64_t vocab, SamplingParams& p,
                                                  VllmOutputOptions& out) {
  if (auto e = read_count(body, "min_tokens", 0, p.min_tokens)) return e;
  if (auto e = read_stop_token_ids(body, vocab, p)) return e;
  if (auto e = read_logit_bias(body, vocab, p)) return e;
  if (auto e = read_bool(body, "skip_special_tokens", "", out.skip_special_tokens)) return e;
  if (auto e = read_bool(body, "include_stop_str_in_output", "", out.include_stop_str_in_output)) return e;
  bool spaces = true;  // checked only: tokenizer.json tokenizers decode the same either way (inert)
  if (auto e = read_bool(body, "spaces_between_special_tokens", "", spaces)) return e;
  // vLLM: k >= 1 keeps the last k tokens; -1 keeps the last max_model_len (the caller's limit).
  if (auto it = body.find("truncate_prompt_tokens"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || (it->get<int64_t>() < 1 && it->get<int64_t>() != -1) || it->get<int64_t>() > INT32_MAX)
      return bad("truncate_prompt_tokens", "must be an integer >= 1 (or -1: the context length)");
    out.truncate_prompt_tokens = static_cast<int32_t>(it->get<int64_t>());
  }
  return std::nullopt;
}

}  // namespace troupe::net
