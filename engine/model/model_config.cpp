#include "engine/model/model_config.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/load_error.h"

namespace troupe {
namespace {

using nlohmann::json;

class ConfigReader {
 public:
  ConfigReader(const json& j, const std::filesystem::path& source) : j_(j), source_(source) {}

  int64_t required_int(const char* key) const {
    const json* v = find(key);
    if (v == nullptr) fail(std::string("missing key '") + key + "'");
    return as_int(*v, key);
  }
  int64_t int_or(const char* key, int64_t fallback) const {
    const json* v = find(key);
    return v == nullptr ? fallback : as_int(*v, key);
  }
  double number_or(const char* key, double fallback) const {
    const json* v = find(key);
    if (v == nullptr) return fallback;
    if (!v->is_number()) fail(std::string("key '") + key + "' must be a number");
    return v->get<double>();
  }
  bool bool_or(const char* key, bool fallback) const {
    const json* v = find(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) fail(std::string("key '") + key + "' must be true or false");
    return v->get<bool>();
  }
  const json* find(const char* key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  [[noreturn]] void fail(const std::string& what) const { throw LoadError(source_, what); }

 private:
  int64_t as_int(const json& v, const char* key) const {
    if (!v.is_number_integer()) fail(std::string("key '") + key + "' must be an integer");
    return v.get<int64_t>();
  }
  const json& j_;
  const std::filesystem::path& source_;
};

Llama3RopeScaling parse_rope_scaling(const json& rs, const ConfigReader& r) {
  if (!rs.is_object()) r.fail("key 'rope_scaling' must be an object or null");
  std::string type = rs.value("rope_type", rs.value("type", std::string()));
  if (type != "llama3")
    r.fail("rope_scaling type '" + type + "' is not supported (supported: llama3)");
  Llama3RopeScaling out;
  auto num = [&](const char* key, double& dst) {
    auto it = rs.find(key);
    if (it == rs.end()) r.fail(std::string("missing key 'rope_scaling.") + key + "'");
    if (!it->is_number()) r.fail(std::string("key 'rope_scaling.") + key + "' must be a number");
    dst = it->get<double>();
  };
  num("factor", out.factor);
  num("low_freq_factor", out.low_freq_factor);
  num("high_freq_factor", out.high_freq_factor);
  num("original_max_position_embeddings", out.original_max_position_embeddings);
  if (out.high_freq_factor <= out.low_freq_factor)
    r.fail("rope_scaling.high_freq_factor must be greater than low_freq_factor");
  return out;
}

std::vector<int32_t> parse_token_ids(const json* v, const char* key, const ConfigReader& r) {
  std::vector<int32_t> ids;
  if (v == nullptr) return ids;
  if (v->is_number_integer()) return {v->get<int32_t>()};
  if (!v->is_array()) r.fail(std::string("key '") + key + "' must be an integer or a list");
  for (const auto& e : *v) {
    if (!e.is_number_integer()) r.fail(std::string("key '") + key + "' must hold integers");
    ids.push_back(e.get<int32_t>());
  }
  return ids;
}

}  // namespace

ModelConfig parse_model_config(const json& j, const std::filesystem::path& source) {
  const ConfigReader r(j, source);
  if (!j.is_object()) r.fail("expected a JSON object");
  ModelConfig c;
  const json* arch = r.find("architectures");
  if (arch == nullptr || !arch->is_array() || arch->empty() || !(*arch)[0].is_string())
    r.fail("missing key 'architectures' (a list naming the model class)");
  c.architecture_name = (*arch)[0].get<std::string>();
  if (c.architecture_name == "LlamaForCausalLM" || c.architecture_name == "MistralForCausalLM") {
    c.architecture = Architecture::Llama;
  } else if (c.architecture_name == "Qwen2ForCausalLM") {
    c.architecture = Architecture::Qwen2;
  } else {
    r.fail("unsupported architecture '" + c.architecture_name +
           "' (supported: LlamaForCausalLM, Qwen2ForCausalLM)");
  }
  c.vocab_size = r.required_int("vocab_size");
  c.hidden_size = r.required_int("hidden_size");
  c.intermediate_size = r.required_int("intermediate_size");
  c.num_layers = r.required_int("num_hidden_layers");
  c.num_heads = r.required_int("num_attention_heads");
  c.num_kv_heads = r.int_or("num_key_value_heads", c.num_heads);
  if (c.num_heads <= 0) r.fail("key 'num_attention_heads' must be positive");
  c.head_dim = r.int_or("head_dim", c.hidden_size / c.num_heads);
  c.max_position_embeddings = r.int_or("max_position_embeddings", 4096);
  c.rms_norm_eps = static_cast<float>(r.number_or("rms_norm_eps", 1e-6));
  c.rope_theta = r.number_or("rope_theta", 10000.0);
  if (const json* rs = r.find("rope_scaling")) c.rope_scaling = parse_rope_scaling(*rs, r);
  if (c.architecture == Architecture::Qwen2) {
    c.qkv_bias = true;
    if (r.bool_or("use_sliding_window", false))
      r.fail("key 'use_sliding_window' is true; sliding-window attention is not supported");
  } else {
    c.qkv_bias = c.o_bias = r.bool_or("attention_bias", false);
    c.mlp_bias = r.bool_or("mlp_bias", false);
    if (r.find("sliding_window") != nullptr)
      r.fail("key 'sliding_window' is set; sliding-window attention is not supported");
  }
  c.tie_word_embeddings = r.bool_or("tie_word_embeddings", false);
  if (const json* b = r.find("bos_token_id")) {
    auto ids = parse_token_ids(b, "bos_token_id", r);
    if (!ids.empty()) c.bos_token_id = ids.front();
  }
  c.eos_token_ids = parse_token_ids(r.find("eos_token_id"), "eos_token_id", r);
  if (const std::string act = j.value("hidden_act", std::string("silu")); act != "silu")
    r.fail("key 'hidden_act' is '" + act + "'; only silu is supported");

  auto positive = [&](int64_t v, const char* key) {
    if (v <= 0) r.fail(std::string("key '") + key + "' must be positive");
  };
  positive(c.vocab_size, "vocab_size");
  positive(c.hidden_size, "hidden_size");
  positive(c.intermediate_size, "intermediate_size");
  positive(c.num_layers, "num_hidden_layers");
  positive(c.num_kv_heads, "num_key_value_heads");
  positive(c.head_dim, "head_dim");
  positive(c.max_position_embeddings, "max_position_embeddings");
  if (c.num_heads % c.num_kv_heads != 0)
    r.fail("num_attention_heads (" + std::to_string(c.num_heads) +
           ") must be a multiple of num_key_value_heads (" + std::to_string(c.num_kv_heads) + ")");
  if (c.head_dim % 2 != 0) r.fail("head_dim must be even for rotary embeddings");
  return c;
}

ModelConfig load_model_config(const std::filesystem::path& config_json) {
  std::ifstream in(config_json);
  if (!in) throw LoadError(config_json, "cannot open (missing file?)");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    throw LoadError(config_json, std::string("invalid JSON: ") + e.what());
  }
  return parse_model_config(j, config_json);
}

}  // namespace troupe
