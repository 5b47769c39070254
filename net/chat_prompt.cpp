#include "net/chat_prompt.h"

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "engine/template/template_error.h"
#include "net/api_submit.h"

namespace troupe::net {
namespace {

using nlohmann::ordered_json;

ApiError bad(std::string message, std::string param) { return ApiError{400, std::move(message), std::move(param)}; }

// OpenAI's roles and vLLM's (function is the old name of tool). Anything else is most likely a
// client bug, which a template would render as if it meant something.
constexpr std::array<std::string_view, 6> kRoles = {"system", "developer", "user", "assistant", "tool", "function"};

// A template variable set by the route itself: a client's chat_template_kwargs may not replace it.
constexpr std::array<std::string_view, 6> kReservedVariables = {"messages", "tools", "documents", "add_generation_prompt",
                                                                 "bos_token", "eos_token"};
// chat_template_kwargs keys become template variables, looked up by a linear search: few allowed.
constexpr size_t kMaxTemplateVariables = 64;

// The messages as the template sees them: content parts joined into one string.
std::variant<ordered_json, ApiError> normalized_messages(const ordered_json& body) {
  auto it = body.find("messages");
  if (it == body.end() || !it->is_array() || it->empty()) return bad("'messages' must be a non-empty array", "messages");
  ordered_json out = ordered_json::array();
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& msg = (*it)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!msg.is_object() || !msg.contains("role") || !msg["role"].is_string())
      return bad(where + " must be an object with a string 'role'", where + ".role");
    const std::string role = msg["role"].get<std::string>();
    if (std::find(kRoles.begin(), kRoles.end(), role) == kRoles.end())
      return bad(where + ".role '" + role.substr(0, 64) + "' is not one of system, developer, user, assistant, tool, function",
                 where + ".role");
    ordered_json copy = msg;
    auto content = msg.find("content");
    if (content == msg.end() || content->is_string() || content->is_null()) {
      out.push_back(std::move(copy));
      continue;
    }
    if (!content->is_array()) return bad(where + ".content must be a string or an array of content parts", where + ".content");
    std::string text;
    for (size_t j = 0; j < content->size(); ++j) {
      const auto& part = (*content)[j];
      const std::string at = where + ".content[" + std::to_string(j) + "]";
      if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
        return bad(at + " must be an object with a string 'type'", at);
      const std::string type = part["type"].get<std::string>();
      if (type != "text") return bad(at + ": content part type '" + type.substr(0, 64) + "' is not supported yet", at);
      if (!part.contains("text") || !part["text"].is_string()) return bad(at + ".text must be a string", at + ".text");
      if (j > 0) text += '\n';
      text += part["text"].get<std::string>();
    }
    copy["content"] = std::move(text);
    out.push_back(std::move(copy));
  }
  return out;
}

// An array of objects, or null; `field` names it in errors.
std::optional<ApiError> check_object_list(const ordered_json& body, const char* field) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_array()) return bad(std::string("'") + field + "' must be an array of objects", field);
  for (const auto& v : *it)
    if (!v.is_object()) return bad(std::string("'") + field + "' must be an array of objects", field);
  return std::nullopt;
}

std::optional<ApiError> check_template_variables(const ordered_json& body) {
  auto it = body.find("chat_template_kwargs");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_object()) return bad("'chat_template_kwargs' must be an object", "chat_template_kwargs");
  if (it->size() > kMaxTemplateVariables)
    return bad("'chat_template_kwargs' has more than " + std::to_string(kMaxTemplateVariables) + " keys", "chat_template_kwargs");
  for (const auto& [key, value] : it->items())
    if (std::find(kReservedVariables.begin(), kReservedVariables.end(), key) != kReservedVariables.end())
      return bad("'chat_template_kwargs." + key + "' is set by the request itself", "chat_template_kwargs." + key);
  return std::nullopt;
}

// transformers' continue_final_message: the render is cut right after the last message's text,
// so the model continues it instead of starting a new one.
std::variant<std::string, ApiError> cut_after_final_message(std::string rendered, const ordered_json& messages) {
  const auto& last = messages.back();
  const std::string content = last.contains("content") && last["content"].is_string() ? last["content"].get<std::string>() : "";
  const size_t first = content.find_first_not_of(" \t\n\r");
  const std::string trimmed = first == std::string::npos ? "" : content.substr(first, content.find_last_not_of(" \t\n\r") - first + 1);
  const size_t at = trimmed.empty() ? std::string::npos : rendered.rfind(trimmed);
  if (at == std::string::npos)
    return bad("continue_final_message: the final message does not appear in the rendered chat", "continue_final_message");
  rendered.resize(at + trimmed.size());
  return rendered;
}

}  // namespace

std::variant<std::vector<int32_t>, ApiError> read_chat_prompt(const ordered_json& body, const ModelFolder& m,
                                                              bool request_template) {
  auto messages = normalized_messages(body);
  if (auto* e = std::get_if<ApiError>(&messages)) return *e;
  const ordered_json& msgs = std::get<ordered_json>(messages);
  bool add_generation_prompt = true;
  bool continue_final = false;
  bool add_special_tokens = false;  // the template writes the special tokens itself
  for (auto [key, out] : {std::pair{"add_generation_prompt", &add_generation_prompt},
                          std::pair{"continue_final_message", &continue_final},
                          std::pair{"add_special_tokens", &add_special_tokens}})
    if (auto e = read_bool(body, key, "", *out)) return *e;
  if (continue_final) {
    // vLLM refuses both asked for; continuing alone implies no generation prompt.
    if (auto g = body.find("add_generation_prompt"); g != body.end() && g->is_boolean() && g->get<bool>())
      return bad("'continue_final_message' and 'add_generation_prompt' cannot both be true", "continue_final_message");
    add_generation_prompt = false;
  }
  for (const char* list : {"tools", "documents"})
    if (auto e = check_object_list(body, list)) return *e;
  const auto tools = body.find("tools");
  const bool has_tools = tools != body.end() && tools->is_array() && !tools->empty();
  // vLLM defaults tool_choice to "auto" when tools come, which needs a tool parser we lack.
  if (has_tools && !(body.contains("tool_choice") && body["tool_choice"] == "none"))
    return bad("with 'tools', 'tool_choice' must be \"none\" (tool calls are not parsed yet)", "tool_choice");
  if (auto e = check_template_variables(body)) return *e;
  auto field = [&](const char* key) -> const ordered_json* {
    auto it = body.find(key);
    return it == body.end() || it->is_null() ? nullptr : &*it;
  };
  std::optional<ChatTemplate> own;  // the request's template, parsed for this request only
  if (const ordered_json* t = request_template ? field("chat_template") : nullptr) {
    if (!t->is_string()) return bad("'chat_template' must be a string", "chat_template");
    try {
      own = ChatTemplate::parse(t->get<std::string>());
    } catch (const TemplateError& e) {
      return bad(std::string("chat_template: ") + e.what(), "chat_template");
    }
  }
  try {
    // The template sees what the client sent, keys in the client's order (tojson prints them).
    const ChatTemplateInputs inputs{.messages = msgs,
                                    .add_generation_prompt = add_generation_prompt,
                                    .tools = has_tools ? &*tools : nullptr,
                                    .documents = field("documents"),
                                    .variables = field("chat_template_kwargs")};
    std::string text = own ? apply_chat_template(*own, m.text.chat_config, inputs) : m.text.render_chat(inputs);
    if (continue_final) {
      auto cut = cut_after_final_message(std::move(text), msgs);
      if (auto* e = std::get_if<ApiError>(&cut)) return *e;
      text = std::move(std::get<std::string>(cut));
    }
    return m.text.tokenizer.encode(text, add_special_tokens);
  } catch (const TemplateError& e) {
    return bad(std::string("chat template: ") + e.what(), own ? "chat_template" : "messages");
  } catch (const std::exception& e) {
    return ApiError{400, e.what(), "messages"};
  }
}

}  // namespace troupe::net
