#include "net/completion_prompts.h"

#include <string>

#include "net/api_submit.h"

namespace troupe::net {
namespace {

using nlohmann::ordered_json;

ApiError bad(std::string message) { return ApiError{400, std::move(message), "prompt"}; }

const char* const kShape = "'prompt' must be a string, an array of token ids, or a non-empty array of either";

std::variant<std::vector<int32_t>, ApiError> token_ids(const ordered_json& list, const ModelFolder& m) {
  std::vector<int32_t> ids;
  for (const auto& v : list) {
    if (!v.is_number_integer()) return bad(kShape);
    const int64_t id = v.get<int64_t>();
    if (id < 0 || id >= m.config.vocab_size)
      return bad("token id " + std::to_string(id) + " in 'prompt' is outside the vocabulary [0, " +
                 std::to_string(m.config.vocab_size) + ")");
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

}  // namespace

std::variant<std::vector<std::vector<int32_t>>, ApiError> read_completion_prompts(const ordered_json& body,
                                                                                  const ModelFolder& m) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) return bad("'prompt' is required");
  bool add_special_tokens = true;
  if (auto e = read_bool(body, "add_special_tokens", "", add_special_tokens)) return *e;
  std::vector<std::vector<int32_t>> prompts;
  auto add = [&](const ordered_json& p) -> std::optional<ApiError> {
    if (p.is_string()) {
      prompts.push_back(m.text.tokenizer.encode(p.get<std::string>(), add_special_tokens));
      return std::nullopt;
    }
    if (!p.is_array() || p.empty()) return bad(kShape);
    auto ids = token_ids(p, m);
    if (auto* e = std::get_if<ApiError>(&ids)) return *e;
    prompts.push_back(std::move(std::get<std::vector<int32_t>>(ids)));
    return std::nullopt;
  };
  // One prompt: a string or one list of ids. Otherwise a batch of strings or of id lists.
  const bool single = it->is_string() || (it->is_array() && !it->empty() && (*it)[0].is_number_integer());
  if (single) {
    if (auto e = add(*it)) return *e;
    return prompts;
  }
  if (!it->is_array() || it->empty()) return bad(kShape);
  if (it->size() > kMaxBatchPrompts) return bad("a batch holds at most " + std::to_string(kMaxBatchPrompts) + " prompts");
  for (const auto& p : *it)
    if (auto e = add(p)) return *e;
  return prompts;
}

std::vector<std::string> completion_prompt_texts(const ordered_json& body, const std::vector<std::vector<int32_t>>& prompt_ids,
                                                 const ModelFolder& m, bool truncated) {
  const ordered_json& prompt = body["prompt"];
  std::vector<std::string> texts;
  for (size_t i = 0; i < prompt_ids.size(); ++i) {
    const ordered_json& given = prompt.is_string() ? prompt : prompt.is_array() && i < prompt.size() ? prompt[i] : prompt;
    if (given.is_string() && !truncated) texts.push_back(given.get<std::string>());
    else texts.push_back(m.text.tokenizer.decode(prompt_ids[i], /*skip_special_tokens=*/false));
  }
  return texts;
}

}  // namespace troupe::net
