#pragma once
// `vllm serve`'s command line on `troupe serve`, so that a vLLM launch script starts unchanged:
// the model as a positional argument, vLLM's names for what we have (--max-model-len, --seed,
// --served-model-name A B, --enable-prefix-caching, --enforce-eager, -tp/-pp/-dp), values we cannot
// honour refused by name (--dtype, --kv-cache-dtype, --quantization), and
// the flags that only tune vLLM's Python or its logging accepted with one warning each. Also
// --chat-template FILE|TEXT, and the two flags that open request fields as in vLLM:
// --trust-request-chat-template (a body's chat_template) and --scheduling-policy priority (a
// body's priority orders the waiting queue; under fcfs, the default, a non-zero one is a 400). That last
// group is the one exception to "refused, never ignored": they change nothing a client can see.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/engine_options.h"
#include "cli/generation_config_flags.h"
#include "cli/model_options.h"
#include "cli/serve_http.h"

namespace troupe::cli {

struct VllmServeFlags {
  std::string dtype = "auto";
  std::string kv_cache_dtype = "auto";
  std::string quantization;       // empty: none (unquantized weights)
  std::string chat_template;      // FILE or TEXT; empty: tokenizer_config.json's
  GenerationConfigFlags generation_config;
};

// Registers the flags on `serve`; those we have a meaning for write straight into the options.
void add_vllm_serve_flags(CLI::App& cmd, VllmServeFlags& v, ModelOptions& model, EngineOptions& engine,
                          HttpServing& serving);

// --chat-template: the folder's template replaced by the flag's (a file or the text, as vLLM
// reads it), said in the log. Throws LoadError naming the file, or the template's parse error.
void apply_chat_template_flag(const VllmServeFlags& v, ChatTokenizer& text);

// Throws std::invalid_argument naming the flag for a value this build cannot honour. `gpu`: the
// model runs on the CUDA backend (bf16), else on the CPU one (fp32).
void check_vllm_serve_flags(const VllmServeFlags& v, bool gpu);

// vLLM spells the parallel sizes -tp, -pp and -dp, which CLI11 cannot declare (more than one
// character after a single dash): main() passes every argument through this first. "-tp", "-tp=N"
// and the others become their long names; anything else comes back as it was.
std::string long_form_of_vllm_flag(const std::string& arg);

}  // namespace troupe::cli
