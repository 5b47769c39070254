#include "engine/template/chat_template.h"

#include <fstream>
#include <sstream>

#include "engine/load_error.h"
#include "engine/template/ast.h"
#include "engine/template/evaluator.h"
#include "engine/template/globals.h"
#include "engine/template/parser.h"

namespace troupe {
namespace {

const jinja::Dict& globals() {
  static const jinja::Dict g = jinja::make_globals();
  return g;
}

template <typename Json>
std::string render_json(const ChatTemplate& tmpl, const Json& context) {
  if (!context.is_object()) throw TemplateError("template context must be a JSON object");
  jinja::Value v = jinja::from_json(context);
  return tmpl.render_values(v.dict());
}

template <typename Json>
std::string apply(const ChatTemplate& tmpl, const ChatTemplateConfig& config, const Json& messages,
                  bool add_generation_prompt, const Json& tools, const Json& documents = nullptr,
                  const Json& variables = nullptr) {
  if (!messages.is_array()) throw TemplateError("messages must be a JSON array");
  // Converted straight into the context: copying messages into a JSON context first would walk
  // them twice, and the copy recurses with no depth limit of its own. The context is a level, so
  // what it holds gets one less.
  constexpr int inner = jinja::kMaxValueDepth - 1;
  jinja::Dict context;
  // transformers passes extra keyword arguments as template variables; set first so the ones
  // below win (callers refuse those names anyway).
  if (variables.is_object())
    for (const auto& [key, value] : variables.items()) context.append_new(key, jinja::from_json(value, inner));
  context.set("messages", jinja::from_json(messages, inner));
  // transformers passes tools=None and documents=None when there are none, so both are
  // *defined* (as none) inside the template; special tokens that are unset are not passed.
  context.set("tools", tools.is_array() ? jinja::from_json(tools, inner) : jinja::Value(nullptr));
  context.set("documents", documents.is_array() ? jinja::from_json(documents, inner) : jinja::Value(nullptr));
  context.set("add_generation_prompt", jinja::Value(add_generation_prompt));
  if (!config.bos_token.empty()) context.set("bos_token", jinja::Value(config.bos_token));
  if (!config.eos_token.empty()) context.set("eos_token", jinja::Value(config.eos_token));
  return tmpl.render_values(context);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LoadError(path, "cannot open file");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string special_token(const std::filesystem::path& path, const nlohmann::json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    return (*it)["content"].get<std::string>();
  throw LoadError(path, std::string(key) + " must be a string, an object with \"content\", or null");
}

}  // namespace

ChatTemplate ChatTemplate::parse(std::string_view source) {
  ChatTemplate t;
  t.body_ = jinja::parse_template(source);
  return t;
}

std::string ChatTemplate::render(const nlohmann::json& context) const { return render_json(*this, context); }
std::string ChatTemplate::render(const nlohmann::ordered_json& context) const { return render_json(*this, context); }

std::string ChatTemplate::render_values(const jinja::Dict& context) const {
  if (!body_) throw TemplateError("no template: use ChatTemplate::parse");
  return jinja::Renderer(globals(), context).render(*body_);
}

ChatTemplateConfig read_chat_template_config(const std::filesystem::path& path) {
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw LoadError(path, std::string("invalid JSON: ") + e.what());
  }
  if (!config.is_object()) throw LoadError(path, "expected a JSON object");
  ChatTemplateConfig out;
  std::filesystem::path jinja_file = path.parent_path() / "chat_template.jinja";
  std::error_code ec;
  auto it = config.find("chat_template");
  if (std::filesystem::exists(jinja_file, ec)) {
    out.chat_template = read_file(jinja_file);
  } else if (it == config.end() || it->is_null()) {
    throw LoadError(path, "no chat_template (and no chat_template.jinja beside it)");
  } else if (it->is_string()) {
    out.chat_template = it->get<std::string>();
  } else if (it->is_array()) {
    for (const auto& entry : *it) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
          entry["template"].is_string())
        out.chat_template = entry["template"].get<std::string>();
    }
    if (out.chat_template.empty()) throw LoadError(path, "chat_template list has no template named \"default\"");
  } else {
    throw LoadError(path, "chat_template must be a string or a list of {name, template}");
  }
  out.bos_token = special_token(path, config, "bos_token");
  out.eos_token = special_token(path, config, "eos_token");
  return out;
}

std::string apply_chat_template(const ChatTemplate& tmpl, const ChatTemplateConfig& config,
                                const nlohmann::json& messages, bool add_generation_prompt,
                                const nlohmann::json& tools) {
  return apply(tmpl, config, messages, add_generation_prompt, tools);
}

std::string apply_chat_template(const ChatTemplate& tmpl, const ChatTemplateConfig& config,
                                const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                const nlohmann::ordered_json& tools) {
  return apply(tmpl, config, messages, add_generation_prompt, tools);
}

std::string apply_chat_template(const ChatTemplate& tmpl, const ChatTemplateConfig& config, const ChatTemplateInputs& in) {
  static const nlohmann::ordered_json none = nullptr;
  return apply(tmpl, config, in.messages, in.add_generation_prompt, in.tools ? *in.tools : none,
               in.documents ? *in.documents : none, in.variables ? *in.variables : none);
}

}  // namespace troupe
