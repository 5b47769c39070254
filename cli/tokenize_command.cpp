// `troupe tokenize`: the tokenizer and chat template of a model folder, on their own, printing JSON.
#include "cli/tokenize_command.h"

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/load_error.h"
#include "engine/model_folder.h"

namespace troupe::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  std::string decode;
  std::string chat;
  bool add_generation_prompt = false;
  bool no_special_tokens = false;
  bool skip_special_tokens = false;
};

void print(const nlohmann::json& j) {
  std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

std::vector<int32_t> parse_ids(const std::string& csv) {
  std::vector<int32_t> ids;
  std::stringstream in(csv);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || v < 0 || v > INT32_MAX)
      throw std::invalid_argument("--decode: '" + item + "' is not a token id");
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

int run_tokenize(const TokenizeOptions& o) {
  const ChatTokenizer t = load_chat_tokenizer(o.model);
  if (!o.decode.empty()) {
    print({{"text", t.tokenizer.decode(parse_ids(o.decode), o.skip_special_tokens)}});
  } else if (!o.chat.empty()) {
    std::ifstream in(o.chat);
    if (!in) throw LoadError(o.chat, "cannot open");
    nlohmann::ordered_json messages;  // keys keep the file's order, as Python's dicts do
    try {
      messages = nlohmann::ordered_json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
      throw LoadError(o.chat, std::string("invalid JSON: ") + e.what());
    }
    if (!messages.is_array()) throw LoadError(o.chat, "expected a JSON array of messages");
    print({{"text", t.render_chat(messages, o.add_generation_prompt)}});
  } else {
    print({{"ids", t.tokenizer.encode(o.text, !o.no_special_tokens)}});
  }
  return 0;
}

}  // namespace

void register_tokenize(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Encode text, decode ids or render a chat with a model folder's tokenizer");
  cmd->add_option("--model", o->model, "folder holding tokenizer.json (and tokenizer_config.json)")->required();
  auto* text = cmd->add_option("--text", o->text, "text to encode: prints {\"ids\": [...]}");
  auto* decode = cmd->add_option("--decode", o->decode, "comma-separated ids: prints {\"text\": ...}");
  auto* chat = cmd->add_option("--chat", o->chat, "JSON file with an array of messages: prints the rendered template");
  text->excludes(decode)->excludes(chat);
  decode->excludes(chat);
  cmd->add_flag("--add-generation-prompt", o->add_generation_prompt, "with --chat: end with the assistant's turn header");
  cmd->add_flag("--no-special-tokens", o->no_special_tokens, "with --text: do not add special tokens (e.g. BOS)");
  cmd->add_flag("--skip-special-tokens", o->skip_special_tokens, "with --decode: leave special tokens out");
  cmd->callback([o, text, decode, chat, &exit_code] {
    if (text->count() + decode->count() + chat->count() != 1)
      throw CLI::ValidationError("tokenize", "give exactly one of --text, --decode, --chat");
    exit_code = run_tokenize(*o);
  });
}

}  // namespace troupe::cli
