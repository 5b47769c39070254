#pragma once
// ModelConfig: what the forward pass needs from a Hugging Face config.json, validated once.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace troupe {

enum class Architecture { Llama, Qwen2 };

// rope_scaling of type "llama3" (Llama 3.1+): long wavelengths are stretched by `factor`,
// short ones kept, the band between blended smoothly.
struct Llama3RopeScaling {
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192;
};

struct ModelConfig {
  Architecture architecture = Architecture::Llama;
  std::string architecture_name;  // as written in config.json
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;           // hidden_size / num_heads unless config.json says otherwise
  int64_t max_position_embeddings = 0;
  float rms_norm_eps = 1e-6f;
  double rope_theta = 10000.0;
  std::optional<Llama3RopeScaling> rope_scaling;
  bool qkv_bias = false;          // Qwen2 always; Llama when attention_bias is true
  bool o_bias = false;            // Llama's attention_bias covers o_proj too
  bool mlp_bias = false;
  bool tie_word_embeddings = false;
  std::optional<int32_t> bos_token_id;
  std::vector<int32_t> eos_token_ids;

  int64_t q_size() const { return num_heads * head_dim; }
  int64_t kv_size() const { return num_kv_heads * head_dim; }
};

// Parses and checks a config.json; any problem throws LoadError naming the file and the key.
ModelConfig load_model_config(const std::filesystem::path& config_json);
ModelConfig parse_model_config(const nlohmann::json& j, const std::filesystem::path& source);

}  // namespace troupe
