#pragma once
// ChatTemplate: a tokenizer's Jinja chat template, rendered byte for byte as transformers'
// apply_chat_template(tokenize=False) renders it (jinja2 with trim_blocks and lstrip_blocks,
// raise_exception, strftime_now, and a tojson that is json.dumps(ensure_ascii=False)).
//
// Pass nlohmann::ordered_json where key order matters: `tojson` prints a dict's keys in the
// order the caller gave them, and nlohmann::json has already sorted them.
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "engine/template/template_error.h"

namespace troupe {

namespace jinja {
struct Stmt;
class Dict;
}

// Immutable once parsed: one instance may render on many threads at once.
class ChatTemplate {
 public:
  // Throws TemplateError("line N: ...") on a syntax error or an unknown filter or test.
  static ChatTemplate parse(std::string_view source);
  // `context` must be a JSON object; its keys are the template's variables. Throws
  // TemplateError (raise_exception's message verbatim; "line N: ..." for anything else).
  // Also TemplateError when the context nests deeper than jinja::kMaxValueDepth levels.
  std::string render(const nlohmann::json& context) const;
  std::string render(const nlohmann::ordered_json& context) const;
  // A context already made of template values (apply_chat_template builds one without copying
  // the messages into a JSON object first).
  std::string render_values(const jinja::Dict& context) const;

 private:
  std::shared_ptr<const std::vector<jinja::Stmt>> body_;
};

struct ChatTemplateConfig {
  std::string chat_template;
  std::string bos_token;  // empty when the tokenizer has none; then the template sees it undefined
  std::string eos_token;
};

// Reads tokenizer_config.json: `chat_template` (a string, or a list of {name, template} of
// which "default" is taken; a chat_template.jinja beside the file wins, as in transformers),
// and bos_token / eos_token (a string, an {"content": ...} object, or null).
// Throws troupe::LoadError naming the file.
ChatTemplateConfig read_chat_template_config(const std::filesystem::path& tokenizer_config_json);

// Renders `messages` (a JSON array of {role, content, ...}) as apply_chat_template(
// tokenize=False) does: the template sees messages, add_generation_prompt, bos_token and
// eos_token, and tools / documents (none unless tools is given as a non-null array). Throws
// TemplateError when messages or tools nest deeper than the context allows (jinja::kMaxValueDepth
// levels counting the context itself, so messages and tools get one less).
std::string apply_chat_template(const ChatTemplate& tmpl, const ChatTemplateConfig& config,
                                const nlohmann::json& messages, bool add_generation_prompt,
                                const nlohmann::json& tools = nullptr);
std::string apply_chat_template(const ChatTemplate& tmpl, const ChatTemplateConfig& config,
                                const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                const nlohmann::ordered_json& tools = nullptr);

// What vLLM's chat route hands the template beyond the messages (each may be null): tools,
// documents (RAG), and chat_template_kwargs, whose keys become template variables.
struct ChatTemplateInputs {
  const nlohmann::ordered_json& messages;
  bool add_generation_prompt = true;
  const nlohmann::ordered_json* tools = nullptr;
  const nlohmann::ordered_json* documents = nullptr;
  const nlohmann::ordered_json* variables = nullptr;  // an object
};
std::string apply_chat_template(const ChatTemplate& tmpl, const ChatTemplateConfig& config, const ChatTemplateInputs& in);

}  // namespace troupe
