#include "engine/model_folder.h"

#include <algorithm>

#include "engine/load_error.h"
#include "engine/model/checkpoint.h"

namespace troupe {
namespace fs = std::filesystem;

std::optional<LoadFormat> parse_load_format(const std::string& s) {
  if (s == "auto") return LoadFormat::Auto;
  if (s == "safetensors") return LoadFormat::Safetensors;
  if (s == "dummy") return LoadFormat::Dummy;
  return std::nullopt;
}

std::string ChatTokenizer::render_chat(const nlohmann::ordered_json& messages, bool add_generation_prompt) const {
  if (!chat_template) throw LoadError(dir / "tokenizer_config.json", "no chat_template");
  return apply_chat_template(*chat_template, chat_config, messages, add_generation_prompt);
}

std::string ChatTokenizer::render_chat(const ChatTemplateInputs& inputs) const {
  if (!chat_template)
    throw LoadError(dir / "tokenizer_config.json", "no chat_template (serve's --chat-template FILE|TEXT gives one)");
  return apply_chat_template(*chat_template, chat_config, inputs);
}

void ChatTokenizer::use_chat_template(const std::string& text, const std::string& origin) {
  try {
    chat_template = ChatTemplate::parse(text);
  } catch (const TemplateError& e) {
    throw LoadError(origin, std::string("chat template: ") + e.what());
  }
  chat_config.chat_template = text;
  template_origin = origin;
}

ChatTokenizer load_chat_tokenizer(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw LoadError(dir, "not a directory");
  const fs::path tokenizer_json = dir / "tokenizer.json";
  if (!fs::exists(tokenizer_json))
    throw LoadError(tokenizer_json, "missing file (only tokenizer.json tokenizers are supported)");
  ChatTokenizer text{dir, Tokenizer::from_file(tokenizer_json), std::nullopt, {}, {}};
  const fs::path tokenizer_config = dir / "tokenizer_config.json";
  if (!fs::exists(tokenizer_config)) return text;
  text.chat_config = read_chat_template_config(tokenizer_config);
  if (!text.chat_config.chat_template.empty()) {
    try {
      text.chat_template = ChatTemplate::parse(text.chat_config.chat_template);
    } catch (const TemplateError& e) {
      throw LoadError(tokenizer_config, std::string("chat_template: ") + e.what());
    }
  }
  return text;
}

ModelFolder open_model_folder(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw LoadError(dir, "not a directory");
  ModelConfig config = load_model_config(dir / "config.json");
  ModelFolder folder{dir, std::move(config), load_chat_tokenizer(dir), {}};
  folder.eos_token_ids = folder.config.eos_token_ids;
  const std::string& eos = folder.text.chat_config.eos_token;
  if (auto id = eos.empty() ? std::nullopt : folder.text.tokenizer.token_to_id(eos);
      id && std::find(folder.eos_token_ids.begin(), folder.eos_token_ids.end(), *id) == folder.eos_token_ids.end())
    folder.eos_token_ids.push_back(*id);
  if (folder.text.tokenizer.vocab_size() > folder.config.vocab_size)
    throw LoadError(dir / "tokenizer.json",
                    "the tokenizer has " + std::to_string(folder.text.tokenizer.vocab_size()) +
                        " tokens but config.json's vocab_size is " + std::to_string(folder.config.vocab_size));
  return folder;
}

void apply_generation_defaults(ModelFolder& folder, GenerationDefaults d) {
  for (int32_t id : d.eos_token_ids)
    if (std::find(folder.eos_token_ids.begin(), folder.eos_token_ids.end(), id) == folder.eos_token_ids.end())
      folder.eos_token_ids.push_back(id);
  folder.generation = std::move(d);
}

std::unique_ptr<CpuModel> load_cpu_model(const ModelFolder& folder, LoadFormat format, uint64_t seed,
                                         const LoadProgress& progress) {
  return load_cpu_model(folder, format, seed, all_layers(folder.config), progress);
}

std::unique_ptr<CpuModel> load_cpu_model(const ModelFolder& folder, LoadFormat format, uint64_t seed,
                                         LayerRange layers, const LoadProgress& progress) {
  return load_cpu_model(folder.dir, folder.config, format, seed, layers, whole_model_shard(folder.config), progress);
}

std::unique_ptr<CpuModel> load_cpu_model(const std::filesystem::path& dir, const ModelConfig& config, LoadFormat format,
                                         uint64_t seed, LayerRange layers, const TpShard& shard,
                                         const LoadProgress& progress) {
  // "auto" means the safetensors in the folder; never a silent fallback to random weights.
  if (format == LoadFormat::Dummy) return std::make_unique<CpuModel>(config, dummy_weights(config, seed, layers, shard));
  return std::make_unique<CpuModel>(config, load_weights(config, Checkpoint::open(dir), layers, shard, progress));
}

}  // namespace troupe
