#pragma once
// `vllm bench serve`'s spelling on `troupe bench`, so a vLLM user's benchmark script runs against
// either server. The flags that name what ours already do are aliases declared beside ours in
// bench_command (--random-input-len, --random-output-len, --max-concurrency, --base-url); the ones
// here need a word of translation: --dataset-name (random only; every other dataset refused by
// name), --random-range-ratio, --host/--port, --backend, --served-model-name, --percentile-metrics,
// --metric-percentiles, --save-result/--result-dir/--result-filename, and --ignore-eos and
// --disable-tqdm (what we always do / a progress bar off). Any other vLLM flag is refused by CLI11.
#include <ctime>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/bench_options.h"

namespace troupe::cli {

struct VllmBenchFlags {
  std::string dataset_name = "random";
  double random_range_ratio = -1;  // < 0: not given
  std::string host;
  int port = 0;                    // 0: not given
  std::string backend;
  std::string served_model_name;
  std::string percentile_metrics;
  std::string metric_percentiles;
  bool save_result = false;
  std::string result_dir;
  std::string result_filename;
  bool ignore_eos = false;
  bool disable_tqdm = false;
};

// Declares the flags on `bench`; `url` is our --url option, which --host/--port exclude.
void add_vllm_bench_flags(CLI::App& bench, CLI::Option* url, VllmBenchFlags& flags);

// Folds what was given into `o`; returns an error message naming the flag, empty when it fits.
std::string apply_vllm_bench_flags(const VllmBenchFlags& flags, BenchOptions& o);

// The --save-result file ("" without it), once `o.model` is known: --result-dir (default here) /
// --result-filename, by default vLLM's {backend}-{rate}qps[-concurrency{N}]-{model}-{YYYYMMDD-HHMMSS}.json
// at `now` (UTC).
std::string vllm_result_path(const VllmBenchFlags& flags, const BenchOptions& o, std::time_t now);

}  // namespace troupe::cli
