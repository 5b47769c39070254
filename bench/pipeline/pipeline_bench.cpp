// pipeline_bench: CPU pipeline parallel against one executor, in one process, through the real
// actors (scheduler -> stage executors -> scheduler). For each stage count it starts an engine
// over dummy weights of a model folder's config.json, submits a batch of requests at once
// (random prompt ids, greedy, EOS ignored, so every request makes exactly --max-tokens tokens)
// and reports:
//   - output tokens/s over the whole batch (prefill included) and the wall time;
//   - per stage: its layers, busy time (in its forward pass) / wall time, and steps run;
//   - the balance floor: with P stages the pipeline is at best as fast as its slowest stage, so
//     busy(slowest) / sum(busy) bounds the speed-up (1 / that).
// One executor uses every core (--threads); P stages get --threads / P each, the split
// `troupe --pipeline-parallel P` makes. Run by hand; results go to docs/benchmarks.md.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/all.hpp>

#include "actors/actor_system_config.h"
#include "actors/batch_client.h"
#include "actors/engine_topology.h"
#include "bench/pipeline/busy_time_backend.h"
#include "engine/model/cpu_model.h"
#include "engine/model/layer_split.h"
#include "engine/runtime/cpu_backend.h"
#include "kernels/cpu/gemm.h"

namespace troupe {
namespace {

struct Options {
  std::string model = ".cache/demo-model";  // a folder with config.json (weights are made)
  std::vector<int> stages = {1, 2};
  int requests = 32;
  int prompt_len = 64;
  int max_tokens = 64;
  int max_num_seqs = 32;
  int max_num_batched_tokens = 512;
  int threads = 0;      // 0: every core
  int num_layers = 0;   // > 0: override config.json's (a deeper model of the same width)
  int repeats = 1;
};

struct RunResult {
  double wall_s = 0;
  int64_t tokens = 0;
  std::vector<double> busy_s;
  std::vector<int64_t> steps;
  std::vector<LayerRange> layers;
};

RunResult run_once(const ModelConfig& config, const std::vector<std::shared_ptr<CpuModel>>& models, int threads,
                   const Options& o) {
  const int per_stage = models.size() == 1 ? threads : std::max(1, threads / static_cast<int>(models.size()));
  std::vector<std::shared_ptr<bench::BusyTimeBackend>> timed;
  std::vector<std::shared_ptr<ModelBackend>> stages;
  for (const auto& m : models) {
    timed.push_back(std::make_shared<bench::BusyTimeBackend>(std::make_shared<CpuBackend>(m, per_stage)));
    stages.push_back(timed.back());
  }
  SchedulerConfig sc;
  sc.max_num_seqs = o.max_num_seqs;
  sc.max_num_batched_tokens = o.max_num_batched_tokens;
  sc.block_size = 16;
  const int blocks_per_seq = (o.prompt_len + o.max_tokens + 15) / 16;
  sc.num_blocks = blocks_per_seq * o.max_num_seqs + 16;
  sc.enable_prefix_caching = false;
  std::mt19937 rng(7);
  std::vector<GenerationRequest> requests;
  for (int i = 0; i < o.requests; ++i) {
    GenerationRequest r;
    r.id = static_cast<SeqId>(i);
    for (int t = 0; t < o.prompt_len; ++t)
      r.prompt_token_ids.push_back(std::uniform_int_distribution<int>(0, static_cast<int>(config.vocab_size) - 1)(rng));
    r.sampling_params.temperature = 0;
    r.sampling_params.max_tokens = o.max_tokens;
    r.sampling_params.ignore_eos = true;
    requests.push_back(std::move(r));
  }
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  const EngineActors engine = start_pipeline_engine(sys, stages, sc, 0);
  RunResult out;
  const auto start = std::chrono::steady_clock::now();
  run_batch(sys, engine, std::move(requests), [&](const FinishedSequence& f) { out.tokens += static_cast<int64_t>(f.output_token_ids.size()); },
            [](SeqId id, const std::string& why) { std::fprintf(stderr, "request %llu rejected: %s\n", (unsigned long long)id, why.c_str()); });
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stop_engine(engine);
  for (const auto& t : timed) {
    out.busy_s.push_back(t->busy_seconds());
    out.steps.push_back(t->steps());
    out.layers.push_back(t->layers());
  }
  return out;
}

int run(const Options& o) {
  ModelConfig config = load_model_config(std::filesystem::path(o.model) / "config.json");
  if (o.num_layers > 0) config.num_layers = o.num_layers;
  const int threads = o.threads > 0 ? o.threads : omp_get_max_threads();
  cpu::set_gemm_threads(threads);
  std::printf("model %s: %lld layers, hidden %lld, intermediate %lld, vocab %lld; %d requests x (%d prompt + %d output) "
              "tokens, max_num_seqs %d, max_num_batched_tokens %d, %d threads\n",
              o.model.c_str(), (long long)config.num_layers, (long long)config.hidden_size,
              (long long)config.intermediate_size, (long long)config.vocab_size, o.requests, o.prompt_len, o.max_tokens,
              o.max_num_seqs, o.max_num_batched_tokens, threads);
  double baseline = 0;
  for (int p : o.stages) {
    std::vector<std::shared_ptr<CpuModel>> models;
    for (LayerRange r : split_layers(config.num_layers, p))
      models.push_back(std::make_shared<CpuModel>(config, dummy_weights(config, 0, r)));
    for (int rep = 0; rep < o.repeats; ++rep) {
      const RunResult r = run_once(config, models, threads, o);
      const double tps = static_cast<double>(r.tokens) / r.wall_s;
      if (p == o.stages.front() && rep == 0) baseline = tps;
      double total_busy = 0, most_busy = 0;
      for (double b : r.busy_s) {
        total_busy += b;
        most_busy = std::max(most_busy, b);
      }
      std::printf("pp=%d run %d: %lld tokens in %.2f s = %.1f tok/s (x%.2f of the first); balance bound x%.2f\n", p, rep,
                  (long long)r.tokens, r.wall_s, tps, tps / baseline, total_busy / most_busy);
      for (size_t s = 0; s < r.busy_s.size(); ++s)
        std::printf("  stage %zu layers [%lld, %lld)%s: busy %.2f s of %.2f = %.0f%% utilization, %lld steps, %.2f ms/step\n",
                    s, (long long)r.layers[s].begin, (long long)r.layers[s].end,
                    is_last_stage(r.layers[s], config) ? " + LM head" : "", r.busy_s[s], r.wall_s,
                    100.0 * r.busy_s[s] / r.wall_s, (long long)r.steps[s], 1e3 * r.busy_s[s] / std::max<int64_t>(1, r.steps[s]));
    }
  }
  return 0;
}

}  // namespace
}  // namespace troupe

int main(int argc, char** argv) {
  troupe::Options o;
  CLI::App app("pipeline_bench: CPU pipeline parallel vs one executor (tokens/s, stage utilization)");
  app.add_option("--model", o.model, "model folder (config.json; dummy weights)")->capture_default_str();
  app.add_option("--stages", o.stages, "stage counts to run, in order; the first is the baseline")->delimiter(',')
      ->capture_default_str();
  app.add_option("--requests", o.requests)->capture_default_str();
  app.add_option("--prompt-len", o.prompt_len)->capture_default_str();
  app.add_option("--max-tokens", o.max_tokens)->capture_default_str();
  app.add_option("--max-num-seqs", o.max_num_seqs)->capture_default_str();
  app.add_option("--max-num-batched-tokens", o.max_num_batched_tokens)->capture_default_str();
  app.add_option("--threads", o.threads, "cores in all (0: every core)")->capture_default_str();
  app.add_option("--num-layers", o.num_layers, "override config.json's layer count (0: keep)")->capture_default_str();
  app.add_option("--repeats", o.repeats, "runs per stage count")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return troupe::run(o);
}
