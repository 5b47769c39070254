#pragma once
// ModelFolder: everything a Hugging Face model folder gives the engine — config, weights (or
// seeded dummy ones), tokenizer, chat template and the token ids that end a generation.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/generation_config.h"
#include "engine/model/cpu_model.h"
#include "engine/model/model_config.h"
#include "engine/model/model_weights.h"
#include "engine/template/chat_template.h"
#include "engine/tokenizer/tokenizer.h"

namespace troupe {

enum class LoadFormat { Auto, Safetensors, Dummy };

// "auto" | "safetensors" | "dummy"; nullopt for anything else.
std::optional<LoadFormat> parse_load_format(const std::string& s);

// The text side of a folder: tokenizer.json and, from tokenizer_config.json, the chat template.
struct ChatTokenizer {
  std::filesystem::path dir;
  Tokenizer tokenizer;
  std::optional<ChatTemplate> chat_template;  // absent when tokenizer_config.json has none
  ChatTemplateConfig chat_config;

  // Renders a chat (a JSON array of messages); throws TemplateError, or LoadError when the folder
  // has no chat template.
  std::string render_chat(const nlohmann::ordered_json& messages, bool add_generation_prompt) const;
  std::string render_chat(const ChatTemplateInputs& inputs) const;
  // Replaces tokenizer_config.json's template (serve's --chat-template). `origin` names it in
  // errors and logs. Throws LoadError when the text does not parse.
  void use_chat_template(const std::string& text, const std::string& origin);
  std::string template_origin;  // where chat_template came from; empty: tokenizer_config.json
};

// Reads tokenizer.json and tokenizer_config.json (optional). Throws LoadError.
ChatTokenizer load_chat_tokenizer(const std::filesystem::path& dir);

struct ModelFolder {
  std::filesystem::path dir;
  ModelConfig config;
  ChatTokenizer text;
  std::vector<int32_t> eos_token_ids;  // config.json's, plus tokenizer_config's eos_token (and
                                       // generation_config.json's once applied)
  GenerationDefaults generation;       // what a request starts from (empty until applied)
};

// Makes `d` the folder's request defaults; its eos ids join the folder's. open_model_folder does
// not read generation_config.json itself: --generation-config decides which one, if any.
void apply_generation_defaults(ModelFolder& folder, GenerationDefaults d);

// Reads config.json, tokenizer.json and tokenizer_config.json. Throws LoadError.
ModelFolder open_model_folder(const std::filesystem::path& dir);

// Loads (or, for Dummy, makes from `seed`) the weights. Throws LoadError.
std::unique_ptr<CpuModel> load_cpu_model(const ModelFolder& folder, LoadFormat format,
                                         uint64_t seed, const LoadProgress& progress = {});
// One pipeline stage: only the tensors of `layers` (and the embedding / LM head its place calls
// for) are read or made.
std::unique_ptr<CpuModel> load_cpu_model(const ModelFolder& folder, LoadFormat format, uint64_t seed,
                                         LayerRange layers, const LoadProgress& progress = {});
// The same from the folder's config alone (a cluster node running executors only needs no
// tokenizer), for one tensor-parallel rank's shard of the stage: only its slices are read.
std::unique_ptr<CpuModel> load_cpu_model(const std::filesystem::path& dir, const ModelConfig& config, LoadFormat format,
                                         uint64_t seed, LayerRange layers, const TpShard& shard,
                                         const LoadProgress& progress = {});

}  // namespace troupe
