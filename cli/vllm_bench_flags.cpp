#include "cli/vllm_bench_flags.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>

namespace troupe::cli {

void add_vllm_bench_flags(CLI::App& bench, CLI::Option* url, VllmBenchFlags& f) {
  const std::string vllm = "vLLM's: ";
  bench.add_option("--dataset-name", f.dataset_name,
                   vllm + "random only (prompts of random tokens); other datasets are refused by name")
      ->capture_default_str();
  bench.add_option("--random-range-ratio", f.random_range_ratio,
                   vllm + "r for both --input-len-range and --output-len-range")->check(CLI::Range(0.0, 1.0));
  auto* host = bench.add_option("--host", f.host, vllm + "with --port, the server instead of --url");
  auto* port = bench.add_option("--port", f.port, vllm + "with --host (default 127.0.0.1)")->check(CLI::Range(1, 65535));
  host->excludes(url);
  port->excludes(url);
  bench.add_option("--backend", f.backend,
                   vllm + "vllm or openai (/v1/completions), openai-chat (--endpoint /v1/chat/completions); "
                          "it also labels the --save-result file");
  bench.add_option("--served-model-name", f.served_model_name, vllm + "the model name sent, over --model");
  bench.add_option("--percentile-metrics", f.percentile_metrics,
                   vllm + "comma-separated: which of ttft,tpot,itl,e2el the table and result show (default all)");
  bench.add_option("--metric-percentiles", f.metric_percentiles,
                   vllm + "comma-separated percentiles shown besides mean and median (default 90,95,99)");
  bench.add_flag("--save-result", f.save_result,
                 vllm + "write the result JSON to --result-dir/--result-filename (vLLM's file name by default)");
  bench.add_option("--result-dir", f.result_dir, vllm + "folder of the --save-result file (default: here)");
  bench.add_option("--result-filename", f.result_filename, vllm + "name of the --save-result file");
  bench.add_flag("--ignore-eos", f.ignore_eos, vllm + "accepted: every request here sends ignore_eos");
  bench.add_flag("--disable-tqdm", f.disable_tqdm, vllm + "no progress bar");
}

namespace {

// vLLM writes the rate as Python prints a float: 4 -> "4.0", inf -> "inf".
std::string rate_word(double rate) {
  if (std::isinf(rate)) return "inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, rate == std::floor(rate) ? "%.1f" : "%g", rate);
  return buf;
}

}  // namespace

std::string apply_vllm_bench_flags(const VllmBenchFlags& f, BenchOptions& o) {
  if (f.dataset_name != "random")
    return "--dataset-name " + f.dataset_name + " is not supported: only random (prompts of random tokens)";
  if (f.random_range_ratio >= 0) o.workload.input_len_range = o.workload.output_len_range = f.random_range_ratio;
  if (!f.host.empty() || f.port != 0)
    o.url = "http://" + (f.host.empty() ? std::string("127.0.0.1") : f.host) + ":" + std::to_string(f.port ? f.port : 8000);
  if (!f.backend.empty()) {
    const bool chat_endpoint = o.endpoint.ends_with("chat/completions");
    if (f.backend == "openai-chat" && !chat_endpoint)
      return "--backend openai-chat needs --endpoint /v1/chat/completions (as in vLLM)";
    if ((f.backend == "vllm" || f.backend == "openai") && chat_endpoint)
      return "--backend " + f.backend + " sends prompts: use --backend openai-chat with --endpoint " + o.endpoint;
    if (f.backend != "vllm" && f.backend != "openai" && f.backend != "openai-chat")
      return "--backend " + f.backend + " is not supported: vllm, openai or openai-chat (OpenAI-compatible servers)";
    o.backend = f.backend;
  }
  if (!f.served_model_name.empty()) o.model = f.served_model_name;
  std::string err;
  if (!f.percentile_metrics.empty() && !(err = loadgen::parse_percentile_metrics(f.percentile_metrics, o.layout)).empty())
    return err;
  if (!f.metric_percentiles.empty() && !(err = loadgen::parse_metric_percentiles(f.metric_percentiles, o.layout)).empty())
    return err;
  if (f.disable_tqdm) o.no_progress = true;
  if ((!f.result_dir.empty() || !f.result_filename.empty()) && !f.save_result)
    return "--result-dir and --result-filename go with --save-result";
  if (f.save_result && !o.result_json.empty()) return "--save-result and --result-json both name a result file: give one";
  return "";
}

std::string vllm_result_path(const VllmBenchFlags& f, const BenchOptions& o, std::time_t now) {
  if (!f.save_result) return "";
  std::string name = f.result_filename;
  if (name.empty()) {
    char stamp[32];
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    const std::string model = o.model.substr(o.model.find_last_of('/') + 1);  // npos + 1 == 0
    name = o.backend + "-" + rate_word(o.request_rate) + "qps" +
           (o.concurrency > 0 ? "-concurrency" + std::to_string(o.concurrency) : "") + "-" + model + "-" + stamp + ".json";
  }
  return (std::filesystem::path(f.result_dir.empty() ? "." : f.result_dir) / name).string();
}

}  // namespace troupe::cli
