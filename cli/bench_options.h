#pragma once
// What `troupe bench` was asked to do, whichever spelling asked it (ours, or vLLM's through
// `vllm_bench_flags`): filled by CLI11, checked and run by `bench_command`.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/loadgen/report.h"
#include "bench/loadgen/request_generator.h"

namespace troupe::cli {

struct BenchOptions {
  std::string url = "http://127.0.0.1:8000";
  std::string model;           // the name sent in requests
  std::string endpoint = "/v1/completions";
  loadgen::WorkloadOptions workload;
  size_t num_prompts = 100;
  size_t concurrency = 0;      // > 0: closed loop
  double request_rate = INFINITY;
  uint64_t seed = 0;
  size_t warmup = 4;
  std::vector<std::string> goodput;  // metric:ms each
  loadgen::ReportLayout layout;
  std::string result_json;     // "": no result file
  std::string backend = "openai";  // only a label here (the --save-result file name, its "backend")
  std::string tokenizer;
  int32_t vocab_size = 0;
  double request_timeout_s = 600;
  bool progress = false;
  bool no_progress = false;
  std::string extra_body;
  // --multi-turn: conversations whose every turn resends the history (bench_multi_turn.h).
  bool multi_turn = false;
  size_t conversations = 32;
  size_t turns = 4;
  int32_t system_prompt_len = 0;  // tokens of one system prompt every conversation opens with
};

}  // namespace troupe::cli
