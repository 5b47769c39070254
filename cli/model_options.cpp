#include "cli/model_options.h"

#include <omp.h>  // omp_set_num_threads

#include <chrono>

#include <spdlog/spdlog.h>

#include "kernels/cpu/gemm.h"

namespace troupe::cli {

void add_model_options(CLI::App& cmd, ModelOptions& o, bool model_required) {
  auto* m = cmd.add_option("--model", o.model, "Hugging Face model folder (config.json, *.safetensors, tokenizer.json)");
  if (model_required) m->required();
  cmd.add_option("--load-format", o.load_format,
                 "auto: the folder's safetensors; dummy: seeded random weights of the right shapes")
      ->check(CLI::IsMember({"auto", "safetensors", "dummy"}))
      ->capture_default_str();
  cmd.add_option("--dummy-seed", o.dummy_seed, "seed of --load-format dummy weights")->capture_default_str();
  cmd.add_option("--threads", o.threads, "CPU threads (0: all cores)")->capture_default_str();
}

LoadedModel load_model(const ModelOptions& o, bool weights) {
  if (o.threads > 0) {
    omp_set_num_threads(o.threads);
    cpu::set_gemm_threads(o.threads);
  }
  const auto start = std::chrono::steady_clock::now();
  ModelFolder folder = open_model_folder(o.model);
  const ModelConfig& c = folder.config;
  spdlog::info("model {}: {} layers, hidden {}, {} heads ({} kv), vocab {}", folder.dir.string(),
               c.num_layers, c.hidden_size, c.num_heads, c.num_kv_heads, c.vocab_size);
  if (!weights) return {std::move(folder), nullptr};
  const LoadFormat format = *parse_load_format(o.load_format);
  size_t last_pct = 0;
  auto progress = [&](size_t done, size_t total) {
    const size_t pct = done * 100 / total;
    if (pct >= last_pct + 10 || done == total) {
      spdlog::info("loading weights: {}/{} tensors ({}%)", done, total, pct);
      last_pct = pct;
    }
  };
  if (format == LoadFormat::Dummy) spdlog::info("making dummy weights (seed {})", o.dummy_seed);
  std::shared_ptr<CpuModel> model = load_cpu_model(folder, format, o.dummy_seed, progress);
  spdlog::info("model ready in {:.1f} s",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return {std::move(folder), std::move(model)};
}

std::string demo_model_dir() {
#ifdef TROUPE_DEMO_MODEL_DIR
  return TROUPE_DEMO_MODEL_DIR;
#else
  return ".cache/demo-model";
#endif
}

}  // namespace troupe::cli
