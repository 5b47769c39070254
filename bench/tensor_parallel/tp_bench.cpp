// tp_bench: CPU tensor parallel in one process (TensorParallelBackend) against one CpuBackend, with
// the embedding and LM head replicated or split by vocabulary rows: the measurement issue 14 asks
// for before keeping one of the two. For each (tp, vocab split) it builds the backend over dummy
// weights of a model folder's config.json and runs, through LocalEngine (scheduler + backend, no
// actors), one request alone (decode ms per token: latency) and a batch (output tokens/s,
// prefill included). Greedy, EOS ignored, so every request makes exactly --max-tokens tokens.
// tp = 1 is the plain CpuBackend with every core; tp ranks get --threads / tp each, the split
// `troupe --tensor-parallel` makes. Run by hand; the floor to compare with is the fp32 bytes of
// the weights one token reads (per rank: its slices, plus the LM head rows it runs).
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "engine/model/model_config.h"
#include "engine/runtime/cpu_backend.h"
#include "engine/runtime/local_engine.h"
#include "engine/runtime/tensor_parallel_backend.h"
#include "kernels/cpu/gemm.h"

namespace troupe {
namespace {

struct Options {
  std::string model;
  std::vector<int> tp = {1, 2};
  int batch = 8, prompt_len = 64, max_tokens = 32, threads = 0;
};

// Wall seconds for `n` requests of the options' shape run to completion.
double run_batch(ModelBackend& backend, const Options& o, int n) {
  LocalEngine engine(backend, {.max_num_seqs = 64, .max_num_batched_tokens = 2048, .block_size = 16, .num_blocks = 2048,
                               .enable_prefix_caching = false, .long_prefill_token_threshold = 0});
  std::mt19937 rng(1);
  for (int id = 0; id < n; ++id) {
    GenerationRequest r{.id = static_cast<SeqId>(id), .prompt_token_ids = {}, .sampling_params = {}, .eos_token_ids = {},
                        .priority = 0, .arrival = {}, .output_token_ids = {}};
    for (int t = 0; t < o.prompt_len; ++t)
      r.prompt_token_ids.push_back(std::uniform_int_distribution<int>(0, static_cast<int>(backend.config().vocab_size) - 1)(rng));
    r.sampling_params.temperature = 0.0f;
    r.sampling_params.max_tokens = o.max_tokens;
    r.sampling_params.ignore_eos = true;
    engine.add_request(std::move(r));
  }
  const auto start = std::chrono::steady_clock::now();
  engine.run_to_completion();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void report(const char* what, ModelBackend& backend, const Options& o) {
  backend.allocate_kv_cache(2048, 16);
  run_batch(backend, o, 1);  // warm-up: OpenMP teams, page faults of the weights and cache
  const double one = run_batch(backend, o, 1);
  const double many = run_batch(backend, o, o.batch);
  std::printf("%-28s batch 1: %7.2f ms/token   batch %d: %8.1f output tokens/s\n", what, one * 1000.0 / o.max_tokens,
              o.batch, o.batch * o.max_tokens / many);
}

}  // namespace
}  // namespace troupe

int main(int argc, char** argv) {
  using namespace troupe;
  Options o;
  CLI::App app("CPU tensor parallel: ranks as threads vs one backend; vocabulary split vs replicated");
  app.add_option("--model", o.model, "a model folder (its config.json; dummy weights)")->required();
  app.add_option("--tp", o.tp, "tensor-parallel sizes to run")->capture_default_str();
  app.add_option("--batch", o.batch, "requests in the batch run")->capture_default_str();
  app.add_option("--prompt-len", o.prompt_len, "prompt tokens per request")->capture_default_str();
  app.add_option("--max-tokens", o.max_tokens, "output tokens per request")->capture_default_str();
  app.add_option("--threads", o.threads, "cores in all (0: OpenMP's default)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const int cores = o.threads > 0 ? o.threads : omp_get_max_threads();
  cpu::set_gemm_threads(cores);
  const ModelConfig c = load_model_config(o.model + "/config.json");
  std::printf("%s: %lld layers, hidden %lld, %lld heads (%lld kv), vocab %lld; %d cores\n", o.model.c_str(),
              static_cast<long long>(c.num_layers), static_cast<long long>(c.hidden_size),
              static_cast<long long>(c.num_heads), static_cast<long long>(c.num_kv_heads),
              static_cast<long long>(c.vocab_size), cores);
  for (int tp : o.tp) {
    if (tp == 1) {
      CpuBackend whole(std::make_shared<CpuModel>(c, dummy_weights(c, 1)), cores);
      report("tp 1", whole, o);
      continue;
    }
    for (VocabSplit v : {VocabSplit::Replicated, VocabSplit::Parallel}) {
      auto backend = make_cpu_tensor_parallel_backend(c, nullptr, 1, tp, std::max(1, cores / tp), {}, v);
      const std::string what = "tp " + std::to_string(tp) + (v == VocabSplit::Parallel ? ", vocab split" : ", vocab replicated");
      report(what.c_str(), *backend, o);
    }
  }
  return 0;
}
