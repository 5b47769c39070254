// `troupe bench`: a load generator for any OpenAI-compatible server (ours or another). Random
// prompts of set lengths go out streamed, at a fixed concurrency or as Poisson arrivals; the result
// table (TTFT, TPOT, ITL, E2E, throughput, goodput) goes to stdout, progress and errors to stderr,
// and --result-json (or vLLM's --save-result) writes the same numbers with the run's settings for
// scripts. vLLM's `bench serve` spelling is taken too (vllm_bench_flags).
#include "cli/bench_command.h"

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "bench/loadgen/http_target.h"
#include "bench/loadgen/load_runner.h"
#include "bench/loadgen/progress_bar.h"
#include "bench/loadgen/report.h"
#include "bench/loadgen/request_generator.h"
#include "cli/bench_multi_turn.h"
#include "cli/bench_options.h"
#include "cli/vllm_bench_flags.h"
#include "engine/tokenizer/tokenizer.h"

namespace troupe::cli {
namespace {

using namespace troupe::loadgen;


std::vector<PlannedBody> plan_bodies(RequestGenerator& gen, size_t n, ApiFlavor flavor, const std::string& model,
                                     const nlohmann::json& extra) {
  std::vector<PlannedBody> bodies;
  bodies.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const PlannedRequest r = gen.next();
    bodies.push_back({request_body(r, flavor, model, extra), r.prompt_tokens});
  }
  return bodies;
}

int bad_argument(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return 2;
}

// The random workload: warm-up, then --num-prompts requests, closed or open loop.
LoadResult run_random(const BenchOptions& o, const HttpTarget& target, ApiFlavor flavor,
                      const std::optional<Tokenizer>& tokenizer, const nlohmann::json& extra) {
  RequestGenerator measured_gen(o.workload, o.seed, tokenizer);
  RequestGenerator warmup_gen(o.workload, o.seed ^ 0x9e3779b97f4a7c15ull, tokenizer);  // apart from the measured
  std::vector<PlannedBody> warmup = plan_bodies(warmup_gen, o.warmup, flavor, o.model, extra);
  std::vector<PlannedBody> measured = plan_bodies(measured_gen, o.num_prompts, flavor, o.model, extra);

  LoadRunnerOptions run{.target = target,
                        .path = o.endpoint,
                        .concurrency = o.concurrency,
                        .request_rate = o.request_rate,
                        .seed = o.seed,
                        .request_timeout = std::chrono::milliseconds(static_cast<int64_t>(o.request_timeout_s * 1e3)),
                        .show_progress = !o.no_progress && (o.progress || ProgressBar::stderr_is_tty()),
                        .stop_on_sigint = true};
  std::cerr << "bench: " << o.num_prompts << " requests (+" << o.warmup << " warm-up) to http://"
            << target.host_header() << target.path_of(o.endpoint) << ", model '" << o.model << "', input "
            << o.workload.input_len << " output " << o.workload.output_len << " tokens, ";
  if (!std::isinf(o.request_rate)) std::cerr << "request rate " << o.request_rate << "/s" << (o.concurrency > 0 ? ", " : "\n");
  if (o.concurrency > 0) std::cerr << "concurrency " << o.concurrency << "\n";
  else if (std::isinf(o.request_rate)) std::cerr << "all at once\n";

  return run_load(run, std::move(warmup), std::move(measured));
}

int run_bench(BenchOptions o, const VllmBenchFlags& vllm) {
  std::string err = apply_vllm_bench_flags(vllm, o);
  if (!err.empty()) return bad_argument(err);
  const std::optional<HttpTarget> target = parse_http_url(o.url, err);
  if (!target) return bad_argument("--url " + o.url + ": " + err);
  GoodputLimits limits;
  for (const std::string& spec : o.goodput)
    if (err = add_goodput_limit(spec, limits); !err.empty()) return bad_argument(err);
  nlohmann::json extra = nlohmann::json::object();
  if (!o.extra_body.empty()) {
    extra = nlohmann::json::parse(o.extra_body, nullptr, false);
    if (!extra.is_object()) return bad_argument("--extra-body must be a JSON object");
  }
  const ApiFlavor flavor = api_flavor_of(o.endpoint);
  std::optional<Tokenizer> tokenizer;
  if (!o.tokenizer.empty()) tokenizer = Tokenizer::from_file(std::filesystem::path(o.tokenizer) / "tokenizer.json");
  if (flavor == ApiFlavor::Chat && !tokenizer)
    return bad_argument("--endpoint " + o.endpoint + " takes text messages: give --tokenizer DIR");
  if (o.vocab_size > 0) {
    o.workload.max_token_id = o.vocab_size;
    o.workload.min_token_id = std::min(1000, o.vocab_size / 2);
  }
  if (o.model.empty()) {
    if (auto id = fetch_first_model_id(*target, std::chrono::seconds(10), err)) o.model = *id;
    else std::cerr << "warning: no --model and " << target->path_of("/v1/models") << " said no model (" << err
                   << "); requests go without \"model\"\n";
  }

  if (vllm.save_result) o.result_json = vllm_result_path(vllm, o, std::time(nullptr));

  LoadResult result;
  nlohmann::ordered_json multi_turn = nlohmann::ordered_json::object();  // --multi-turn's workload and hit rate
  if (o.multi_turn) {
    if (!tokenizer) return bad_argument("--multi-turn sends each answer back as text: give --tokenizer DIR");
    MultiTurnResult r = run_multi_turn(o, *target, *tokenizer, extra);
    std::cout << multi_turn_summary(o, r);
    multi_turn = multi_turn_json(o, r);
    result.records = std::move(r.records);
    result.duration_s = r.duration_s;
  } else {
    result = run_random(o, *target, flavor, tokenizer, extra);
    if (result.skipped && !result.interrupted) {
      std::cerr << "error: all " << result.warmup_total << " warm-up requests failed; the first: "
                << result.warmup_error << "\n";
      return 1;
    }
  }
  const BenchReport report = make_report(result.records, result.duration_s, limits, result.interrupted, o.layout);
  print_report(std::cout, report);
  size_t shown = 0;
  for (const auto& [message, count] : report.errors)
    if (shown++ < 5) std::cerr << "failed x" << count << ": " << message << "\n";

  if (!o.result_json.empty()) {
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(date, sizeof date, "%Y%m%d-%H%M%S", &tm);
    nlohmann::ordered_json j = {{"date", date},  // vLLM's keys first: date .. max_concurrency
                                {"backend", o.backend},
                                {"model_id", o.model},
                                {"tokenizer_id", o.tokenizer.empty() ? nlohmann::ordered_json(nullptr)
                                                                     : nlohmann::ordered_json(o.tokenizer)},
                                {"max_concurrency", o.concurrency > 0 ? nlohmann::ordered_json(o.concurrency) : nullptr},
                                {"url", o.url},
                                {"endpoint", o.endpoint},
                                {"model", o.model},
                                {"num_prompts", o.num_prompts},
                                {"input_len", o.workload.input_len},
                                {"input_len_range", o.workload.input_len_range},
                                {"output_len", o.workload.output_len},
                                {"output_len_range", o.workload.output_len_range},
                                {"concurrency", o.concurrency > 0 ? nlohmann::ordered_json(o.concurrency) : nullptr},
                                {"request_rate", std::isinf(o.request_rate) ? nlohmann::ordered_json("inf")  // as vLLM
                                                                            : nlohmann::ordered_json(o.request_rate)},
                                {"seed", o.seed},
                                {"warmup", o.warmup},
                                {"tokenizer", o.tokenizer.empty() ? nlohmann::ordered_json(nullptr)
                                                                  : nlohmann::ordered_json(o.tokenizer)}};
    const nlohmann::ordered_json results = report_json(report);  // items() does not keep a temporary alive
    for (const auto& [key, value] : results.items()) j[key] = value;
    for (const auto& [key, value] : multi_turn.items()) j[key] = value;
    std::ofstream out(o.result_json);
    out << j.dump(2) << "\n";
    if (!out) {
      std::cerr << "error: cannot write " << o.result_json << "\n";
      return 1;
    }
  }
  return report.completed == 0 && !result.interrupted ? 1 : 0;
}

}  // namespace

void register_bench(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<BenchOptions>();
  auto vllm = std::make_shared<VllmBenchFlags>();
  CLI::App* cmd = app.add_subcommand("bench", "Load-test an OpenAI-compatible server: TTFT, TPOT, ITL, E2E, throughput");
  auto* url = cmd->add_option("--url,--base-url", o->url, "server base URL (plain http)")->capture_default_str();
  cmd->add_option("--model", o->model,
                  "model name sent in requests (default: the first of GET /v1/models); unlike vLLM's, it loads no "
                  "tokenizer: --tokenizer does");
  cmd->add_option("--endpoint", o->endpoint, "/v1/completions (token-id prompts) or /v1/chat/completions (text)")
      ->capture_default_str();
  cmd->add_option("--input-len,--random-input-len", o->workload.input_len, "prompt tokens")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--input-len-range", o->workload.input_len_range,
                  "r: prompt lengths uniform in [len*(1-r), len*(1+r)]")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--output-len,--random-output-len", o->workload.output_len, "tokens generated per request (max_tokens, ignore_eos)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--output-len-range", o->workload.output_len_range, "r: output lengths uniform in [len*(1-r), len*(1+r)]")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--num-prompts", o->num_prompts, "measured requests")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--concurrency,--max-concurrency", o->concurrency,
                  "at most this many requests in flight: a closed loop, or with a finite --request-rate a cap on its arrivals")
      ->check(CLI::PositiveNumber);
  // CLI11's PositiveNumber refuses "inf", which vLLM scripts write for "all at once".
  cmd->add_option("--request-rate", o->request_rate, "open loop: Poisson arrivals per second (default inf: all at once)")
      ->check(CLI::Validator(
          [](const std::string& v) {
            char* end = nullptr;
            const double rate = std::strtod(v.c_str(), &end);
            return end != v.c_str() && *end == '\0' && rate > 0 ? std::string() : "a rate > 0, or inf";
          },
          "RATE"));
  cmd->add_option("--seed", o->seed, "prompts and arrival times")->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "requests sent first and not counted")->capture_default_str();
  cmd->add_option("--goodput", o->goodput,
                  "SLO metric:ms (ttft, tpot, e2el), several after one flag (vLLM's) or repeated; reports requests/s "
                  "meeting all");
  cmd->add_option("--result-json", o->result_json, "also write the results (and settings) to this JSON file");
  cmd->add_option("--tokenizer", o->tokenizer, "folder with tokenizer.json: text prompts of exact token lengths");
  cmd->add_option("--vocab-size", o->vocab_size, "without --tokenizer: random ids below this (default 1000..29999)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--request-timeout", o->request_timeout_s, "seconds per request, connect to last byte")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--progress", o->progress, "progress bar on stderr even when it is not a terminal");
  cmd->add_option("--extra-body", o->extra_body, "JSON object merged into every request body, e.g. '{\"top_p\":0.9}'");
  cmd->add_flag("--multi-turn", o->multi_turn,
                "conversations instead of independent prompts: every turn resends the history (system prompt, "
                "earlier user messages of --input-len tokens and their answers of --output-len) plus a new user "
                "message; --concurrency conversations at once (default all). Needs --tokenizer. Reports the "
                "server's prefix-cache hit rate over the run from its /metrics counters");
  cmd->add_option("--conversations", o->conversations, "with --multi-turn: conversations")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--turns", o->turns, "with --multi-turn: turns (requests) per conversation")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--system-prompt-len", o->system_prompt_len,
                  "with --multi-turn: tokens of one system prompt every conversation opens with (0: none)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  add_vllm_bench_flags(*cmd, url, *vllm);
  cmd->callback([o, vllm, &exit_code] { exit_code = run_bench(*o, *vllm); });
}

}  // namespace troupe::cli
