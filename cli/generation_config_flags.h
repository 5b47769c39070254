#pragma once
// vLLM's --generation-config and --override-generation-config, for `serve` and `generate`: which
// generation_config.json (if any) gives a request its defaults, and the start log that says what
// came from it (engine/generation_config.h reads the file).
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/model_folder.h"

namespace troupe::cli {

struct GenerationConfigFlags {
  std::string mode = "auto";  // auto: the model folder's file; vllm: none; else a folder
  std::string override_json;  // merged over it
};

void add_generation_config_flags(CLI::App& cmd, GenerationConfigFlags& o);

// Reads what the flags name for the model in `model_dir`, logging each value taken and each key
// left unused; engine's apply_generation_defaults makes it a folder's. Throws LoadError.
GenerationDefaults read_generation_config(const GenerationConfigFlags& o, const std::filesystem::path& model_dir);

}  // namespace troupe::cli
