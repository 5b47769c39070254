#include "cli/generation_config_flags.h"

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "engine/generation_config.h"

namespace troupe::cli {

void add_generation_config_flags(CLI::App& cmd, GenerationConfigFlags& o) {
  cmd.add_option("--generation-config", o.mode,
                 "where request defaults come from, as vLLM: auto (the model folder's generation_config.json: its "
                 "temperature, top_p, top_k, min_p, repetition_penalty; max_new_tokens caps the default length; "
                 "eos_token_id joins the stop ids), vllm (none: vLLM's defaults), or a folder holding one")
      ->capture_default_str();
  cmd.add_option("--override-generation-config", o.override_json,
                 "JSON merged over the generation config, e.g. '{\"temperature\": 0.5}' (only the keys applied)");
}

GenerationDefaults read_generation_config(const GenerationConfigFlags& o, const std::filesystem::path& model_dir) {
  GenerationDefaults d = load_generation_defaults(o.mode, model_dir, o.override_json);
  if (d.source.empty()) {
    spdlog::info("generation config: none ({}); requests start from vLLM's defaults",
                 o.mode == "vllm" ? "--generation-config vllm" : "the model folder has no generation_config.json");
  } else {
    // Said at start so that a default nobody asked for is never a surprise (vLLM logs the same).
    spdlog::info("generation config {}: request defaults {} (a request's own fields override them)", d.source,
                 d.applied.empty() ? std::string("none") : fmt::format("{}", fmt::join(d.applied, ", ")));
    if (!d.unused.empty()) spdlog::info("generation config: not used here (nor by vLLM): {}", fmt::join(d.unused, ", "));
  }
  return d;
}

}  // namespace troupe::cli
