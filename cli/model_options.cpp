#include "cli/model_options.h"

#include <omp.h>  // omp_set_num_threads

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "engine/model/checkpoint.h"
#include "engine/model/model_args.h"
#include "engine/model/tensor_shard.h"
#include "engine/runtime/cpu_backend.h"
#include "engine/runtime/gpu_backend.h"
#include "engine/runtime/gpu_tensor_parallel_backend.h"
#include "engine/runtime/gemm_tuning_cache.h"
#include "engine/runtime/sequential_pipeline_backend.h"
#include "engine/runtime/tensor_parallel_backend.h"
#include "kernels/cpu/gemm.h"
#ifdef TROUPE_HAVE_NCCL
#include "comm/cuda/one_shot_all_reduce.h"
#include "comm/nccl/nccl_communicator.h"
#endif

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
  cmd.add_option("--device", o.device, "where the model runs: auto (cuda when a GPU is visible), cpu, cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  cmd.add_option("--gpu-memory-utilization", o.gpu_memory_utilization,
                 "share of the GPU's memory for weights, activations and the KV cache (the cache gets the rest)")
      ->check(CLI::Range(0.05, 1.0))
      ->capture_default_str();
  cmd.add_flag("--batch-invariant", o.batch_invariant,
               "CPU only: every output row computed the same way whatever else is in its batch, so a seeded "
               "request gives the same text under any load and across a recovery (slower prefill: ~2x)");
  cmd.add_flag("--no-cuda-graphs", o.no_cuda_graphs, "run every GPU step eagerly instead of replaying decode graphs");
  cmd.add_flag("--no-gemm-tuning", o.no_gemm_tuning,
               "use cuBLASLt's heuristic GEMM algorithms instead of timing candidates at start (the same choice on "
               "every start; served 128/128 on an H100 was 1.6% slower without the tile search alone, docs/benchmarks.md)");
  o.gemm_tuning_cache = default_gemm_tuning_cache().string();
  cmd.add_option("--gemm-tuning-cache", o.gemm_tuning_cache,
                 "file keeping the timed GEMM choices between starts (only the first start on a GPU spends ~20 s "
                 "timing); 'none': time on every start")
      ->capture_default_str();
}

namespace {

GpuBackendOptions gpu_options(const ModelOptions& o, const EngineOptions& engine) {
  return {.device = 0,
          .memory_utilization = o.gpu_memory_utilization,
          .max_num_seqs = engine.max_num_seqs,
          .max_num_batched_tokens = engine.max_num_batched_tokens,
          .block_size = engine.block_size,
          .num_blocks = engine.num_kv_blocks,
          .cuda_graphs = !o.no_cuda_graphs,
          .tune_gemms = !o.no_gemm_tuning,
          .gemm_tuning_cache = o.gemm_tuning_cache == "none" ? "" : o.gemm_tuning_cache,
          .tp_rank = 0,
          .tp_size = 1,
          .tp_group = nullptr};
}

#ifdef TROUPE_HAVE_NCCL
// The collectives of a GPU group over `devices`: NCCL, or with TROUPE_ONE_SHOT_MAX_BYTES=N the
// one-shot kernel over peer memory for all-reduces up to N bytes (decode's batch x hidden x 2)
// and NCCL above. Off until measured over NVLink (issue 15; bench/gpu/tp_decoder_bench times both).
std::vector<std::unique_ptr<DeviceCommunicator>> gpu_group(const std::vector<int>& devices) {
  auto nccl = connect_nccl_local(devices);
  const char* env = std::getenv("TROUPE_ONE_SHOT_MAX_BYTES");
  const size_t threshold = env ? std::strtoull(env, nullptr, 10) : 0;
  if (threshold == 0) return nccl;
  auto one_shot = make_one_shot_group_local(devices, threshold);
  std::vector<std::unique_ptr<DeviceCommunicator>> out;
  for (size_t r = 0; r < devices.size(); ++r)
    out.push_back(make_one_shot_communicator(std::move(one_shot[r]), std::move(nccl[r]), threshold));
  spdlog::info("tensor parallel: all-reduces of up to {} bytes by the one-shot kernel over peer memory, NCCL above",
               threshold);
  return out;
}
#endif

// --tensor-parallel N on GPUs: GPUs 0..N-1 of this machine, one NCCL group over them, a thread per
// rank (engine/runtime/gpu_tensor_parallel_backend.h).
std::shared_ptr<ModelBackend> load_gpu_tensor_parallel(const ModelConfig& c, const ModelFolder& folder,
                                                       LoadFormat format, const ModelOptions& o,
                                                       const EngineOptions& engine, const LoadProgress& progress) {
#ifdef TROUPE_HAVE_NCCL
  const int n = engine.tensor_parallel;
  if (const std::string why = tensor_parallel_misfit(c, n); !why.empty())
    throw std::invalid_argument("--tensor-parallel: " + why);
  if (cuda_device_count() < n)
    throw std::invalid_argument("--tensor-parallel " + std::to_string(n) + " on --device cuda needs " +
                                std::to_string(n) + " GPUs, found " + std::to_string(cuda_device_count()));
  std::vector<int> devices(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) devices[static_cast<size_t>(r)] = r;
  spdlog::info("tensor parallel: {} ranks on GPUs 0..{} over NCCL {}, {}/{} query heads each; embedding and LM head "
               "on every rank", n, n - 1, nccl_version(), c.num_heads / n, c.num_heads);
  if (format == LoadFormat::Dummy) {
    spdlog::info("making dummy weights on the GPUs (seed {})", o.dummy_seed);
    return make_gpu_tensor_parallel_backend(c, nullptr, o.dummy_seed, gpu_options(o, engine), gpu_group(devices),
                                            devices);
  }
  const Checkpoint checkpoint = Checkpoint::open(folder.dir);
  return make_gpu_tensor_parallel_backend(c, &checkpoint, 0, gpu_options(o, engine), gpu_group(devices), devices,
                                          progress);
#else
  (void)c, (void)folder, (void)format, (void)o, (void)engine, (void)progress;
  throw std::runtime_error("--tensor-parallel " + std::to_string(engine.tensor_parallel) +
                           " on --device cuda needs NCCL, which this build did not find: pass --device cpu");
#endif
}

// The i-th of n models this process puts on its GPUs (pipeline stages or data-parallel replicas):
// GPU i % count. The m sharing a GPU split --gpu-memory-utilization evenly: the k-th (from 0) to
// load there fills the card up to (k + 1) / m of it — the decoder's budget counts what is in use
// already, the weights and pools of those before it included — so each ends with an even share
// for its KV pool. Returns m.
int place_on_gpus(GpuBackendOptions& g, int i, int n, int gpus, double utilization) {
  g.device = i % gpus;
  const int sharing = n / gpus + (g.device < n % gpus ? 1 : 0);
  g.memory_utilization = utilization * (i / gpus + 1) / sharing;
  return sharing;
}

// --pipeline-parallel N on GPUs: stage s on GPU s % (GPUs found), so one GPU holds every stage.
std::vector<std::shared_ptr<ModelBackend>> load_gpu_pipeline(const ModelConfig& c, const ModelFolder& folder,
                                                             LoadFormat format, const ModelOptions& o,
                                                             const EngineOptions& engine, const LoadProgress& progress) {
  const int n = engine.pipeline_parallel;
  const int gpus = std::max(1, cuda_device_count());
  const std::vector<LayerRange> split = split_layers(c.num_layers, n);
  const std::optional<Checkpoint> checkpoint =
      format == LoadFormat::Dummy ? std::nullopt : std::optional<Checkpoint>(Checkpoint::open(folder.dir));
  if (format == LoadFormat::Dummy) spdlog::info("making dummy weights on the GPU (seed {})", o.dummy_seed);
  std::vector<std::shared_ptr<ModelBackend>> stages;
  for (int s = 0; s < n; ++s) {
    GpuBackendOptions g = gpu_options(o, engine);
    const int sharing = place_on_gpus(g, s, n, gpus, o.gpu_memory_utilization);
    g.layers = split[static_cast<size_t>(s)];
    spdlog::info("pipeline stage {} of {}: layers [{}, {}){}{} on GPU {} ({} of {} stages there)", s, n, g.layers.begin,
                 g.layers.end, is_first_stage(g.layers) ? " + embedding" : "",
                 is_last_stage(g.layers, c) ? " + LM head" : "", g.device, s / gpus + 1, sharing);
    stages.push_back(make_gpu_backend(c, checkpoint ? &*checkpoint : nullptr, o.dummy_seed, g, progress));
  }
  return stages;
}

std::shared_ptr<ModelBackend> load_gpu_backend(const ModelFolder& folder, LoadFormat format, const ModelOptions& o,
                                               const GpuBackendOptions& g, const LoadProgress& progress) {
  if (format == LoadFormat::Dummy) {
    spdlog::info("making dummy weights on GPU {} (seed {})", g.device, o.dummy_seed);
    return make_gpu_backend(folder.config, nullptr, o.dummy_seed, g);
  }
  // Tensor by tensor from the memory-mapped files to the device.
  const Checkpoint checkpoint = Checkpoint::open(folder.dir);
  return make_gpu_backend(folder.config, &checkpoint, 0, g, progress);
}

std::shared_ptr<ModelBackend> load_cpu_backend(const ModelFolder& folder, LoadFormat format, const ModelOptions& o,
                                               int threads, const LoadProgress& progress) {
  if (format == LoadFormat::Dummy) spdlog::info("making dummy weights (seed {})", o.dummy_seed);
  return std::make_shared<CpuBackend>(std::shared_ptr<CpuModel>(load_cpu_model(folder, format, o.dummy_seed, progress)),
                                      threads);
}

// --data-parallel N: N whole models, each its own weights and KV pool. On the CPU each gets its
// share of the cores (they compute at once); on GPUs see place_on_gpus.
std::vector<std::shared_ptr<ModelBackend>> load_replicas(const ModelFolder& folder, LoadFormat format,
                                                         const ModelOptions& o, const EngineOptions& engine, bool gpu,
                                                         const LoadProgress& progress) {
  const int n = engine.data_parallel;
  std::vector<std::shared_ptr<ModelBackend>> replicas;
  if (gpu) {
    const int gpus = cuda_device_count();
    if (gpus <= 0) throw std::runtime_error("--data-parallel on --device cuda: no GPU is visible");
    for (int i = 0; i < n; ++i) {
      GpuBackendOptions g = gpu_options(o, engine);
      const int sharing = place_on_gpus(g, i, n, gpus, o.gpu_memory_utilization);
      spdlog::info("data parallel: replica {} of {} on GPU {} ({} replica{} there, this one filling it up to {:.2f})", i,
                   n, g.device, sharing, sharing == 1 ? "" : "s", g.memory_utilization);
      replicas.push_back(load_gpu_backend(folder, format, o, g, progress));
    }
    return replicas;
  }
  const int cores = o.threads > 0 ? o.threads : omp_get_max_threads();
  const int threads = std::max(1, cores / n);
  for (int i = 0; i < n; ++i) {
    spdlog::info("data parallel: replica {} of {} on the CPU, {} thread{}", i, n, threads, threads == 1 ? "" : "s");
    replicas.push_back(load_cpu_backend(folder, format, o, threads, progress));
  }
  return replicas;
}

}  // namespace

void check_data_parallel(const EngineOptions& engine) {
  if (engine.data_parallel < 1) throw std::invalid_argument("--data-parallel-size must be at least 1");
  if (engine.data_parallel == 1) return;
  const std::string dp = "--data-parallel-size " + std::to_string(engine.data_parallel);
  if (!engine.executor.empty())
    throw std::invalid_argument(dp + " runs its replicas in this process; it cannot be combined with --executor");
  // A cluster file runs replicas of a tp x pp group (`[model] data_parallel`, `troupe node`).
  const std::string or_cluster = ": pass one of them, or run the replicas as `troupe node`s of a cluster file "
                                 "([model] data_parallel)";
  if (engine.tensor_parallel > 1) throw std::invalid_argument(dp + " with --tensor-parallel is not built yet" + or_cluster);
  if (engine.pipeline_parallel > 1)
    throw std::invalid_argument(dp + " with --pipeline-parallel is not built yet" + or_cluster);
}

bool uses_gpu(const ModelOptions& o) { return o.device == "cuda" || (o.device == "auto" && cuda_device_available()); }

LoadedModel load_model(const ModelOptions& o, const EngineOptions& engine, bool weights) {
  if (engine.tensor_parallel > 1 && !engine.executor.empty())
    throw std::invalid_argument("--tensor-parallel runs its ranks in this process; it cannot be combined with --executor");
  if (engine.tensor_parallel > 1 && engine.pipeline_parallel > 1)
    throw std::invalid_argument("--tensor-parallel with --pipeline-parallel is not built yet: pass one of them");
  check_data_parallel(engine);
  if (o.threads > 0) {
    omp_set_num_threads(o.threads);
    cpu::set_gemm_threads(o.threads);
  }
  if (o.batch_invariant) {
    // The kernels run where the weights are: with --executor that is the node's process, not this one.
    if (!engine.executor.empty())
      throw std::invalid_argument("--batch-invariant with --executor: the executor's process runs the kernels; pass "
                                  "--batch-invariant to its `troupe node` instead");
    if (weights && uses_gpu(o))
      throw std::invalid_argument("--batch-invariant: batch-invariant kernels exist for the CPU executor only; pass "
                                  "--device cpu");
    cpu::set_batch_invariant(true);
    spdlog::info("batch-invariant CPU kernels: a row's result does not depend on its batch");
  }
  const auto start = std::chrono::steady_clock::now();
  ModelFolder folder = open_model_folder(o.model);
  // The context every request is checked against, /v1/models reports and a GPU sizes for.
  if (const std::string why = apply_max_model_len(o.max_model_len, folder.config); !why.empty())
    throw std::invalid_argument("--max-model-len " + why);
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
  const bool gpu = uses_gpu(o);
  std::shared_ptr<ModelBackend> backend;
  std::vector<std::shared_ptr<ModelBackend>> stages, replicas;
  if (gpu && engine.pipeline_parallel > 1) {
    stages = load_gpu_pipeline(c, folder, format, o, engine, progress);
    backend = std::make_shared<SequentialPipelineBackend>(stages);
  } else if (gpu && engine.tensor_parallel > 1) {
    backend = load_gpu_tensor_parallel(c, folder, format, o, engine, progress);
  } else if (engine.data_parallel > 1) {
    replicas = load_replicas(folder, format, o, engine, gpu, progress);
    backend = replicas.front();
  } else if (gpu) {
    backend = load_gpu_backend(folder, format, o, gpu_options(o, engine), progress);
  } else if (engine.tensor_parallel > 1) {
    if (const std::string why = tensor_parallel_misfit(c, engine.tensor_parallel); !why.empty())
      throw std::invalid_argument("--tensor-parallel: " + why);
    // Every rank computes at once (each all-reduce waits for all): each gets its share of the cores.
    const int cores = o.threads > 0 ? o.threads : omp_get_max_threads();
    const int threads = std::max(1, cores / engine.tensor_parallel);
    spdlog::info("tensor parallel: {} ranks of {}/{} query heads, {} thread{} each; embedding and LM head on every "
                 "rank", engine.tensor_parallel, c.num_heads / engine.tensor_parallel, c.num_heads, threads,
                 threads == 1 ? "" : "s");
    if (format == LoadFormat::Dummy) spdlog::info("making dummy weights (seed {})", o.dummy_seed);
    const std::optional<Checkpoint> checkpoint =
        format == LoadFormat::Dummy ? std::nullopt : std::optional<Checkpoint>(Checkpoint::open(folder.dir));
    backend = make_cpu_tensor_parallel_backend(c, checkpoint ? &*checkpoint : nullptr, o.dummy_seed,
                                               engine.tensor_parallel, threads, progress);
  } else if (engine.pipeline_parallel > 1) {
    // Each stage computes on its own thread while the others do: it gets its share of the cores.
    const int cores = o.threads > 0 ? o.threads : omp_get_max_threads();
    const int threads = std::max(1, cores / engine.pipeline_parallel);
    const std::vector<LayerRange> split = split_layers(c.num_layers, engine.pipeline_parallel);
    for (size_t s = 0; s < split.size(); ++s) {
      spdlog::info("pipeline stage {} of {}: layers [{}, {}){}{}, {} thread{}", s, split.size(), split[s].begin,
                   split[s].end, is_first_stage(split[s]) ? " + embedding" : "",
                   is_last_stage(split[s], c) ? " + LM head" : "", threads, threads == 1 ? "" : "s");
      stages.push_back(std::make_shared<CpuBackend>(
          std::shared_ptr<CpuModel>(load_cpu_model(folder, format, o.dummy_seed, split[s], progress)), threads));
    }
    backend = std::make_shared<SequentialPipelineBackend>(stages);
  } else {
    backend = load_cpu_backend(folder, format, o, 0, progress);
  }
  spdlog::info("model ready on {} in {:.1f} s", gpu ? "cuda" : "cpu",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return {std::move(folder), std::move(backend), std::move(stages), std::move(replicas)};
}

EngineActors start_loaded_engine(caf::actor_system& sys, const LoadedModel& m, const EngineOptions& o,
                                 const SchedulerConfig& config, std::shared_ptr<ServerMetrics> metrics) {
  if (!m.stages.empty()) return start_pipeline_engine(sys, m.stages, config, o.max_restarts, std::move(metrics));
  if (!m.replicas.empty()) {
    // A GPU replica's pool is sized from its memory: each scheduler plans for its own.
    std::vector<SchedulerConfig> configs(m.replicas.size(), config);
    for (size_t i = 0; i < m.replicas.size(); ++i)
      if (const int32_t blocks = m.replicas[i]->kv_cache_capacity(); blocks > 0) configs[i].num_blocks = blocks;
    return start_data_parallel_engine(sys, m.replicas, std::move(configs), o.max_restarts, std::move(metrics));
  }
  return start_engine(sys, m.backend, o.executor, config, o.max_restarts, std::move(metrics), reconnect_window(o));
}

std::string demo_model_dir() {
#ifdef TROUPE_DEMO_MODEL_DIR
  return TROUPE_DEMO_MODEL_DIR;
#else
  return ".cache/demo-model";
#endif
}

}  // namespace troupe::cli
