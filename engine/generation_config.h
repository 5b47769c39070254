#pragma once
// A model's generation_config.json as vLLM reads it: the sampling values it recommends become the
// defaults a request's own fields override, max_new_tokens caps the default length, and its
// eos_token_id (an int or a list) joins the ids that end a sequence. vLLM applies only
// repetition_penalty, temperature, top_k, top_p and min_p (get_diff_sampling_param), so we do the
// same; every other key is named as unused so the start log hides nothing.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/sampling/sampling_params.h"

namespace troupe {

struct GenerationDefaults {
  SamplingParams params;                 // vLLM's defaults with the config's values over them
  std::optional<int32_t> max_new_tokens;  // caps a request's default max_tokens (not a given one)
  std::vector<int32_t> eos_token_ids;    // the config's, to join the folder's
  std::vector<std::string> applied;      // "temperature=0.6", in the config's order, for the start log
  std::vector<std::string> unused;       // keys present that nothing reads (do_sample, max_length, ...)
  std::string source;                    // the file read, "--override-generation-config", or empty
};

// The sampling keys applied, in vLLM's order; an override naming another key is refused.
const std::vector<std::string>& generation_config_sampling_keys();

// Reads a parsed config (file or override); `origin` names it in errors. Throws LoadError naming
// origin and key for a value of the wrong type or range.
GenerationDefaults read_generation_defaults(const nlohmann::json& config, const std::filesystem::path& origin);

// vLLM's --generation-config: "auto" reads model_dir/generation_config.json (absent: no defaults),
// "vllm" reads nothing, anything else is a folder whose generation_config.json must exist.
// `override_json` (--override-generation-config, "" for none) is merged over it key by key, in any
// mode; it may name only the keys applied or eos_token_id. Throws LoadError.
GenerationDefaults load_generation_defaults(const std::string& mode, const std::filesystem::path& model_dir,
                                            const std::string& override_json);

}  // namespace troupe
