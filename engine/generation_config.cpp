#include "engine/generation_config.h"

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/load_error.h"

namespace troupe {
namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string>& generation_config_sampling_keys() {
  static const std::vector<std::string> keys{"repetition_penalty", "temperature", "top_k", "top_p", "min_p"};
  return keys;
}

namespace {

// Keys an override may name: the sampling values, the length cap and the extra stop ids.
bool is_applied_key(const std::string& key) {
  const auto& s = generation_config_sampling_keys();
  return std::find(s.begin(), s.end(), key) != s.end() || key == "max_new_tokens" || key == "eos_token_id";
}

float read_number(const json& v, const fs::path& origin, const std::string& key) {
  if (!v.is_number()) throw LoadError(origin, key + " must be a number");
  return v.get<float>();
}

// An int or a list of ints (Llama 3 lists three), each a plausible token id.
std::vector<int32_t> read_token_ids(const json& v, const fs::path& origin) {
  std::vector<int32_t> ids;
  for (const json& id : v.is_array() ? v : json::array({v})) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      throw LoadError(origin, "eos_token_id must be a token id or a list of them");
    ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
  }
  return ids;
}

json read_json_file(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw LoadError(file, "cannot be read");
  try {
    return json::parse(in);
  } catch (const json::parse_error& e) {
    throw LoadError(file, std::string("not JSON: ") + e.what());
  }
}

}  // namespace

GenerationDefaults read_generation_defaults(const json& config, const fs::path& origin) {
  if (!config.is_object()) throw LoadError(origin, "must be a JSON object");
  GenerationDefaults d;
  d.source = origin.string();
  SamplingParams& p = d.params;
  for (const auto& [key, v] : config.items()) {
    if (v.is_null()) continue;  // transformers writes nulls for keys it leaves unset
    if (key == "temperature") p.temperature = read_number(v, origin, key);
    else if (key == "top_p") p.top_p = read_number(v, origin, key);
    else if (key == "min_p") p.min_p = read_number(v, origin, key);
    else if (key == "repetition_penalty") p.repetition_penalty = read_number(v, origin, key);
    else if (key == "top_k" || key == "max_new_tokens") {
      if (!v.is_number_integer() || v.get<int64_t>() < (key == "top_k" ? -1 : 1) || v.get<int64_t>() > INT32_MAX)
        throw LoadError(origin, key + (key == "top_k" ? " must be an integer >= -1" : " must be a positive integer"));
      if (key == "top_k") p.top_k = static_cast<int32_t>(v.get<int64_t>());
      else d.max_new_tokens = static_cast<int32_t>(v.get<int64_t>());
    } else if (key == "eos_token_id") {
      d.eos_token_ids = read_token_ids(v, origin);
      d.applied.push_back(key + "=" + v.dump());
      continue;
    } else {
      d.unused.push_back(key);
      continue;
    }
    d.applied.push_back(key + "=" + v.dump());
  }
  if (std::string why = p.validate(); !why.empty()) throw LoadError(origin, why);
  return d;
}

GenerationDefaults load_generation_defaults(const std::string& mode, const fs::path& model_dir,
                                            const std::string& override_json) {
  json config = json::object();
  fs::path origin;
  if (mode != "vllm") {
    const fs::path file = (mode == "auto" ? model_dir : fs::path(mode)) / "generation_config.json";
    if (mode != "auto" && !fs::is_directory(mode))
      throw LoadError(mode, "--generation-config takes auto, vllm or a folder holding generation_config.json");
    if (fs::exists(file)) {
      config = read_json_file(file);
      origin = file;
    } else if (mode != "auto") {
      throw LoadError(file, "missing file (named by --generation-config)");
    }
  }
  if (!override_json.empty()) {
    const fs::path flag = "--override-generation-config";
    json over;
    try {
      over = json::parse(override_json);
    } catch (const json::parse_error& e) {
      throw LoadError(flag, std::string("not JSON: ") + e.what());
    }
    if (!over.is_object()) throw LoadError(flag, "must be a JSON object");
    for (const auto& [key, v] : over.items()) {
      if (!is_applied_key(key))
        throw LoadError(flag, "'" + key + "' is not applied here; only repetition_penalty, temperature, top_k, "
                              "top_p, min_p, max_new_tokens and eos_token_id are");
      config[key] = v;
    }
    origin = origin.empty() ? flag : fs::path(origin.string() + " and " + flag.string());
  }
  if (origin.empty()) return {};
  if (config.is_object()) return read_generation_defaults(config, origin);
  throw LoadError(origin, "must be a JSON object");
}

}  // namespace troupe
