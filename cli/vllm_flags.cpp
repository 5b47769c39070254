#include "cli/vllm_flags.h"

#include <stdexcept>

#include <spdlog/spdlog.h>

#include "engine/model/model_args.h"
#include "engine/template/chat_template_source.h"

namespace troupe::cli {
namespace {

// Accepted so scripts start; each says once, when given, that it changes nothing here.
void add_noop_flags(CLI::App& cmd) {
  struct Noop {
    const char* name;
    bool takes_value;
    const char* why;
  };
  static const Noop noops[] = {
      {"--disable-log-requests", false, "requests are not logged one by one here anyway"},
      {"--disable-log-stats", false, "there is no periodic stats line; /metrics has the numbers"},
      {"--trust-remote-code", false, "no model code is ever downloaded or run: the architectures are built in"},
      {"--uvicorn-log-level", true, "there is no uvicorn; HTTP errors are logged at warn"},
      {"--swap-space", true, "preempted sequences are recomputed, never swapped to CPU memory"},
  };
  for (const Noop& n : noops) {
    auto warn = [n] { spdlog::warn("{} has no effect here (vLLM's Python/logging tuning): {}", n.name, n.why); };
    const std::string help = std::string("accepted for vLLM scripts; no effect: ") + n.why;
    if (n.takes_value) cmd.add_option_function<std::string>(n.name, [warn](const std::string&) { warn(); }, help);
    else cmd.add_flag_callback(n.name, warn, help);
  }
}

}  // namespace

void add_vllm_serve_flags(CLI::App& cmd, VllmServeFlags& v, ModelOptions& model, EngineOptions& engine,
                          HttpServing& serving) {
  // `troupe serve DIR`, vLLM's positional model; --model still works, not both.
  cmd.add_option("model_dir", model.model, "the model folder, as --model (vLLM's `vllm serve DIR`)")
      ->excludes(cmd.get_option("--model"));
  cmd.add_option("--max-model-len", model.max_model_len,
                 "context length requests are checked against and /v1/models reports (default: the model's)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--served-model-name", serving.served_model_names,
                 "the names clients may use, all answering; the first is reported (default: --model as given)");
  cmd.add_option_function<uint64_t>("--seed", [&serving](uint64_t s) { serving.seed = s; },
                                    "requests without a seed get one made from this and their order: the same "
                                    "requests in the same order give the same text (default: random)");
  cmd.add_flag("!--enable-prefix-caching,--no-enable-prefix-caching", engine.no_prefix_caching,
               "reuse (default) or not the KV blocks of shared prompt prefixes (also --no-prefix-caching)");
  cmd.add_flag("--enforce-eager", model.no_cuda_graphs, "as --no-cuda-graphs: run every GPU step eagerly");
  cmd.add_option("--dtype", v.dtype,
                 "auto (the backend's: bfloat16 on CUDA, float32 on the CPU), or that one named; others are refused")
      ->check(CLI::IsMember(std::vector<std::string>(kDtypeNames.begin(), kDtypeNames.end())))
      ->capture_default_str();
  cmd.add_option("--kv-cache-dtype", v.kv_cache_dtype, "auto only (the compute dtype); FP8 is not built yet")
      ->capture_default_str();
  cmd.add_option("--quantization,-q", v.quantization, "none is supported yet: unquantized checkpoints only");
  cmd.add_option("--data-parallel-size,--data-parallel", engine.data_parallel,
                 "(also -dp) replicas of the whole model in this process, each its own scheduler, executor, KV "
                 "pool and restart budgets, behind one gateway that routes each request (--data-parallel-policy); "
                 "on GPUs replica i uses GPU i % count, replicas sharing one split --gpu-memory-utilization")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_option("--chat-template", v.chat_template,
                 "a Jinja file, or the template text itself (with {, } or a newline), over tokenizer_config.json's");
  cmd.add_flag("--trust-request-chat-template", serving.field_gates.trust_request_chat_template,
               "let a request's chat_template replace the model's (it runs on the server); without it such a "
               "request is a 400");
  cmd.add_option_function<std::string>(
         "--scheduling-policy",
         [&serving](const std::string& p) { serving.field_gates.priority_scheduling = p == "priority"; },
         "fcfs (default: arrival order; a request's non-zero priority is a 400) or priority (lower first, then "
         "arrival)")
      ->check(CLI::IsMember({"fcfs", "priority"}));
  add_generation_config_flags(cmd, v.generation_config);
  add_noop_flags(cmd);
}

void apply_chat_template_flag(const VllmServeFlags& v, ChatTokenizer& text) {
  if (v.chat_template.empty()) return;
  const ChatTemplateSource source = resolve_chat_template_arg(v.chat_template);
  text.use_chat_template(source.text, source.origin);
  spdlog::info("chat template from {} ({} bytes), not tokenizer_config.json's", source.origin, source.text.size());
}

void check_vllm_serve_flags(const VllmServeFlags& v, bool gpu) {
  // The rules are engine/model/model_args.h's, which a cluster file's [model] keys go through too.
  const std::pair<const char*, std::string> refusals[] = {
      {"--dtype ", dtype_refusal(v.dtype, gpu)},
      {"--kv-cache-dtype ", kv_cache_dtype_refusal(v.kv_cache_dtype)},
      {"--quantization ", quantization_refusal(v.quantization)},
  };
  for (const auto& [flag, why] : refusals)
    if (!why.empty()) throw std::invalid_argument(flag + why);
}

std::string long_form_of_vllm_flag(const std::string& arg) {
  static const std::pair<const char*, const char*> shorts[] = {
      {"-tp", "--tensor-parallel-size"}, {"-pp", "--pipeline-parallel-size"}, {"-dp", "--data-parallel-size"}};
  for (const auto& [s, full] : shorts) {
    const std::string short_name = s;
    if (arg == short_name) return full;
    if (arg.rfind(short_name + "=", 0) == 0) return full + arg.substr(short_name.size());
  }
  return arg;
}

}  // namespace troupe::cli
