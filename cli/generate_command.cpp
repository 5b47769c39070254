// `troupe generate`: one prompt, offline, no server. Streams the text to stdout as it is sampled;
// with --json the last stdout line is {"prompt_ids", "ids", "text"}. Timings go to stderr.
#include "cli/generate_command.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/actor_system_config.h"
#include "actors/batch_client.h"
#include "actors/engine_topology.h"
#include "cli/engine_options.h"
#include "cli/generation_config_flags.h"
#include "cli/model_options.h"
#include "cli/prompts_file.h"
#include "engine/runtime/local_engine.h"
#include "engine/tokenizer/incremental_detokenizer.h"

namespace troupe::cli {
namespace {

struct GenerateOptions {
  ModelOptions model;
  EngineOptions engine;
  std::string prompt;
  std::string prompts_file;
  SamplingParams sampling;
  int64_t seed = -1;
  bool json = false;
  bool no_special_tokens = false;
  int prefill_chunk = 0;
  GenerationConfigFlags generation_config;
  GenerationDefaults generation;  // read before the run; its EOS ids join the folder's
};

// The generation config's values become the defaults of the sampling flags not given, as a
// request's absent fields take them on `serve`.
void take_generation_defaults(const CLI::App& cmd, GenerateOptions& o) {
  o.generation = read_generation_config(o.generation_config, o.model.model);
  const SamplingParams& d = o.generation.params;
  SamplingParams& s = o.sampling;
  if (cmd.count("--temperature") == 0) s.temperature = d.temperature;
  if (cmd.count("--top-p") == 0) s.top_p = d.top_p;
  if (cmd.count("--top-k") == 0) s.top_k = d.top_k;
  if (cmd.count("--min-p") == 0) s.min_p = d.min_p;
  if (cmd.count("--repetition-penalty") == 0) s.repetition_penalty = d.repetition_penalty;
  if (cmd.count("--max-tokens") == 0 && o.generation.max_new_tokens) s.max_tokens = std::min(s.max_tokens, *o.generation.max_new_tokens);
}

int run_prompts_file(const GenerateOptions& o, SamplingParams defaults);

int run_generate(const GenerateOptions& o) {
  SamplingParams params = o.sampling;
  if (o.seed >= 0) params.seed = static_cast<uint64_t>(o.seed);
  if (std::string err = params.validate(); !err.empty()) {
    std::cerr << "error: " << err << "\n";
    return 2;
  }
  if (!o.prompts_file.empty()) return run_prompts_file(o, params);
  LoadedModel m = load_model(o.model, o.engine);
  apply_generation_defaults(m.folder, o.generation);
  const std::vector<int32_t> prompt = m.folder.text.tokenizer.encode(o.prompt, !o.no_special_tokens);
  if (prompt.empty()) {
    std::cerr << "error: the prompt encodes to no tokens (give --prompt some text)\n";
    return 2;
  }
  if (static_cast<int64_t>(prompt.size()) + params.max_tokens > m.folder.config.max_position_embeddings) {
    std::cerr << "error: prompt (" << prompt.size() << " tokens) + --max-tokens (" << params.max_tokens
              << ") exceeds the model's context of " << m.folder.config.max_position_embeddings << "\n";
    return 2;
  }
  // One request through the same scheduler and backend that serve uses, on this thread.
  SchedulerConfig config = make_scheduler_config(o.engine, m.folder.config, m.backend->kv_cache_capacity());
  config.long_prefill_token_threshold = o.prefill_chunk;
  LocalEngine engine(*m.backend, config);
  engine.add_request({.id = 0, .prompt_token_ids = prompt, .sampling_params = params,
                      .eos_token_ids = m.folder.eos_token_ids, .priority = 0, .arrival = {}, .output_token_ids = {}});
  IncrementalDetokenizer detok(m.folder.text.tokenizer, /*skip_special_tokens=*/true);
  std::string text;
  std::vector<int32_t> ids;
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  Clock::time_point first_token;
  std::vector<FinishedSequence> finished;
  while (engine.has_unfinished()) {
    auto done = engine.step([&](const TokenEvent& e) {
      if (ids.empty()) first_token = Clock::now();
      ids.push_back(e.token);
      const std::string delta = detok.push(e.token);
      text += delta;
      if (!o.json) {
        std::fwrite(delta.data(), 1, delta.size(), stdout);
        std::fflush(stdout);
      }
    });
    finished.insert(finished.end(), done.begin(), done.end());
  }
  const auto end = Clock::now();
  const std::string reason = finished.empty() ? "abort" : sequence_finish_reason_name(finished[0].reason);
  const double prefill_seconds = std::chrono::duration<double>(first_token - start).count();
  const double decode_seconds = std::chrono::duration<double>(end - first_token).count();
  const std::string tail = detok.flush();
  text += tail;
  if (!o.json) std::cout << tail << "\n";
  const double decode_steps = static_cast<double>(ids.size()) - 1.0;
  spdlog::info("prompt {} tokens in {:.3f} s ({:.1f} tok/s); generated {} tokens, decode {:.1f} tok/s "
               "({:.2f} ms per token); finish: {}",
               prompt.size(), prefill_seconds, prompt.size() / prefill_seconds, ids.size(),
               decode_steps > 0 ? decode_steps / decode_seconds : 0.0,
               decode_steps > 0 ? 1e3 * decode_seconds / decode_steps : 0.0, reason);
  if (o.json) {
    const nlohmann::ordered_json out = {{"prompt_ids", prompt}, {"ids", ids}, {"text", text}};
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  }
  return 0;
}

// Every line of the file goes through the actors together; each result is printed as it finishes.
int run_prompts_file(const GenerateOptions& o, SamplingParams defaults) {
  const std::vector<PromptLine> lines = read_prompts_file(o.prompts_file, defaults);
  LoadedModel m = load_model(o.model, o.engine, /*weights=*/o.engine.executor.empty());
  apply_generation_defaults(m.folder, o.generation);
  const SchedulerConfig config =
      make_scheduler_config(o.engine, m.folder.config, m.backend ? m.backend->kv_cache_capacity() : 0);
  std::vector<GenerationRequest> requests;
  for (size_t i = 0; i < lines.size(); ++i) {
    GenerationRequest r;
    r.id = i;
    r.prompt_token_ids = m.folder.text.tokenizer.encode(lines[i].prompt, !o.no_special_tokens);
    r.sampling_params = lines[i].params;
    r.eos_token_ids = m.folder.eos_token_ids;
    requests.push_back(std::move(r));
  }
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  const EngineActors engine = start_loaded_engine(sys, m, o.engine, config);
  int rejected = 0;
  run_batch(
      sys, engine, std::move(requests),
      [&](const FinishedSequence& f) {
        const nlohmann::ordered_json out = {{"id", lines[f.id].id},
                                            {"ids", f.output_token_ids},
                                            {"text", m.folder.text.tokenizer.decode(f.output_token_ids, true)},
                                            {"finish_reason", sequence_finish_reason_name(f.reason)}};
        std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
      },
      [&](SeqId id, const std::string& why) {
        ++rejected;
        std::cerr << "error: " << o.prompts_file << ": request " << lines[id].id.dump() << ": " << why << "\n";
      });
  stop_engine(engine);
  return rejected == 0 ? 0 : 2;
}

}  // namespace

void register_generate(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<GenerateOptions>();
  o->sampling.max_tokens = 64;
  CLI::App* cmd = app.add_subcommand("generate", "Generate text for one prompt, offline (no server)");
  add_model_options(*cmd, o->model, /*model_required=*/true);
  auto* prompt = cmd->add_option("--prompt", o->prompt, "prompt text (raw, no chat template)");
  auto* file = cmd->add_option("--prompts-file", o->prompts_file,
                               "JSONL, one {\"id\", \"prompt\", \"max_tokens\", \"temperature\", ...} per line; "
                               "all run batched through the actors, one {\"id\", \"ids\", \"text\"} line each as it finishes "
                               "(the sampling flags are the defaults for omitted fields)");
  prompt->excludes(file);
  add_engine_options(*cmd, o->engine);
  cmd->add_option("--max-tokens", o->sampling.max_tokens, "tokens to generate at most")->capture_default_str();
  cmd->add_option("--temperature", o->sampling.temperature, "0 is greedy")->capture_default_str();
  cmd->add_option("--top-p", o->sampling.top_p, "nucleus mass kept")->capture_default_str();
  cmd->add_option("--top-k", o->sampling.top_k, "keep the k best tokens (0: all)")->capture_default_str();
  cmd->add_option("--min-p", o->sampling.min_p, "drop tokens below min-p x p(best)")->capture_default_str();
  cmd->add_option("--repetition-penalty", o->sampling.repetition_penalty)->capture_default_str();
  cmd->add_option("--presence-penalty", o->sampling.presence_penalty)->capture_default_str();
  cmd->add_option("--frequency-penalty", o->sampling.frequency_penalty)->capture_default_str();
  cmd->add_option("--seed", o->seed, "sampling seed (same seed, same text; -1: random)")->capture_default_str();
  cmd->add_flag("--ignore-eos", o->sampling.ignore_eos, "keep going past end-of-sequence tokens");
  cmd->add_flag("--json", o->json, "print {\"prompt_ids\", \"ids\", \"text\"} as the last stdout line");
  cmd->add_flag("--no-special-tokens", o->no_special_tokens,
                "do not add the tokenizer's special tokens (e.g. BOS) to the prompt");
  cmd->add_option("--prefill-chunk", o->prefill_chunk, "prompt tokens per prefill step (0: all; single prompt)")
      ->capture_default_str();
  add_generation_config_flags(*cmd, o->generation_config);
  cmd->callback([o, prompt, file, cmd, &exit_code] {
    if (prompt->count() + file->count() != 1)
      throw CLI::ValidationError("generate", "give --prompt or --prompts-file");
    take_generation_defaults(*cmd, *o);
    exit_code = run_generate(*o);
  });
}

}  // namespace troupe::cli
