#include "cli/cluster_node.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <csignal>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/actor_system_config.h"
#include "actors/cluster_engine.h"
#include "actors/cluster_launch.h"
#include "actors/node_actor.h"
#include "cli/engine_options.h"
#include "cli/cluster_serving.h"
#include "cli/node_respawn.h"
#include "cli/shutdown_signals.h"
#include "engine/cluster/cluster_model.h"
#include "engine/cluster/fault_plan_file.h"
#include "engine/cluster/placement.h"
#include "engine/cluster/placement_report.h"
#include "engine/runtime/context_loss_guard.h"
#include "engine/runtime/cpu_backend.h"
#include "engine/runtime/fault_injecting_backend.h"
#include "engine/runtime/gemm_tuning_cache.h"
#include "engine/runtime/gpu_backend.h"
#include "kernels/cpu/gemm.h"
#include "wire/wire_codec.h"

namespace troupe::cli {
namespace {

size_t node_index(const ClusterConfig& config, const std::string& name) {
  std::string names;
  for (size_t i = 0; i < config.nodes.size(); ++i) {
    if (config.nodes[i].name == name) return i;
    names += (names.empty() ? "" : ", ") + config.nodes[i].name;
  }
  throw std::invalid_argument("--name " + name + ": " + config.file.string() + " has no such node (" + names + ")");
}

// What this build cannot run yet, refused by the key that asks for it.
void refuse_unbuilt(const ClusterConfig& config, const NodeConfig& head) {
  if (config.model.device == ClusterDevice::Cuda && config.model.tensor_parallel > 1)
    throw config.error("model.tensor_parallel", "tensor parallel on cuda cluster nodes is not built yet (the GPU ranks' "
                                                "NCCL id is not handed over actor messages): pipeline_parallel runs on "
                                                "GPUs; tensor parallel on one machine's GPUs: `troupe serve "
                                                "--tensor-parallel N`");
  for (const NodeConfig& n : config.nodes) {
    const std::string key = "node[" + std::to_string(&n - config.nodes.data()) + "].roles";
    if (n.has(NodeRole::Gateway) && !n.has(NodeRole::Scheduler))
      throw config.error(key, "a gateway on a node without the scheduler is not built yet: give " + head.name +
                                  " the gateway role");
    if (n.has(NodeRole::Spare) && config.model.tensor_parallel > 1)
      throw config.error(key, "spare nodes with model.tensor_parallel > 1 are not built yet");
    // Each replica recovers alone, and two replicas' recoveries could both take one spare.
    if (n.has(NodeRole::Spare) && config.model.data_parallel > 1)
      throw config.error(key, "spare nodes with model.data_parallel > 1 are not built yet");
    if (n.has(NodeRole::KvManager) && !n.has(NodeRole::Scheduler))
      throw config.error(key, "a kv_manager on a node without the scheduler is not built yet: give " + head.name +
                                  " the kv_manager role");
  }
}

// The KV blocks of the cluster's one pool, which every executor holds (for its layers and KV
// heads): num_kv_blocks, else what kv_cache_gib holds on the fullest executor.
int32_t executor_kv_blocks(const ClusterConfig& config, const Placement& placement) {
  if (config.scheduler.num_kv_blocks > 0) return config.scheduler.num_kv_blocks;
  const int32_t blocks = placement.kv_blocks_within(config.scheduler.kv_cache_gib * (1ull << 30));
  if (blocks <= 0) throw config.error("scheduler.kv_cache_gib", "too small for one KV block on an executor");
  return blocks;
}

// A GPU stage's backend on the GPU placement gave it. Its KV pool is the cluster's (allocated now,
// not from the card's free memory: a GPU may hold other nodes' stages too); GEMM choices are kept
// in the default tuning cache, so a restarted node reuses them.
std::shared_ptr<ModelBackend> load_gpu_shard(const ClusterConfig& config, const ClusterModel& model,
                                             const Placement& placement, const RankPlacement& r, LoadFormat format) {
  const std::optional<Checkpoint> checkpoint =
      format == LoadFormat::Dummy ? std::nullopt : std::optional<Checkpoint>(Checkpoint::open(model.dir));
  const SchedulerSettings& s = config.scheduler;
  GpuBackendOptions o;
  o.device = r.device;
  o.max_num_seqs = s.max_num_seqs;
  o.max_num_batched_tokens = s.max_num_batched_tokens;
  o.block_size = s.block_size;
  o.num_blocks = executor_kv_blocks(config, placement);
  o.gemm_tuning_cache = default_gemm_tuning_cache().string();
  o.cuda_graphs = !config.model.enforce_eager;  // as serve's --enforce-eager
  o.layers = {r.layers.begin, r.layers.end};
  return make_gpu_backend(model.config, checkpoint ? &*checkpoint : nullptr, config.model.dummy_seed, o);
}

// CAF 0.17's actor_system destructor can wait forever for the thread of a detached actor (the
// stage executors are detached: their steps block) that has already ended: actor-framework#1196,
// fixed in 0.18 by #1202, seen here now and then. By the time a node ends, every actor has been
// told to and nothing is left to write but the log, so the process ends without that destructor.
[[noreturn]] void end_process(int status) {
  spdlog::shutdown();
  std::fflush(nullptr);
  std::_Exit(status);
}

// Loads shards of this node: each rank's layers and slices straight from the checkpoint, on
// `threads` cores. Its backend ends the process when its device context is lost
// (ContextLossGuard), and suffers the fault plan's faults when there is one.
struct ShardLoader {
  const ClusterConfig& config;
  const ClusterModel& model;
  const Placement& placement;  // as at start: a rank's layers, shard and GPU
  size_t me;                   // this node, in config.nodes
  std::shared_ptr<FaultInjector> faults;

  NodeShard operator()(RankPlacement r, int threads) const {
    if (config.nodes[me].has(NodeRole::Spare)) r.device = spare_device(config.nodes[me], placement, r.global_rank);
    const LayerRange layers{r.layers.begin, r.layers.end};
    const bool gpu = placement.device == ClusterDevice::Cuda;
    spdlog::info("loading {}stage {}{}: layers [{}, {}){}{}, {}",
                 placement.data_parallel > 1 ? fmt::format("replica {} ", r.replica) : "", r.stage,
                 placement.tensor_parallel > 1 ? fmt::format(" rank {}", r.rank) : "", layers.begin, layers.end,
                 r.embedding ? " + embedding" : "", r.lm_head ? " + LM head" : "",
                 gpu ? fmt::format("GPU {}", r.device) : fmt::format("{} thread{}", threads, threads == 1 ? "" : "s"));
    const LoadFormat format = *parse_load_format(config.model.load_format);
    std::shared_ptr<CpuModel> cpu;  // a CPU rank's model, which joins its TP group; null on a GPU
    std::shared_ptr<ModelBackend> backend;
    if (gpu) {
      backend = load_gpu_shard(config, model, placement, r, format);
    } else {
      cpu = load_cpu_model(model.dir, model.config, format, config.model.dummy_seed, layers, r.shard);
      backend = std::make_shared<CpuBackend>(cpu, threads);
    }
    if (faults) {
      FaultInjectingBackend::Poison poison;  // on a GPU a sticky error poisons the real context
      if (gpu) poison = [device = r.device] { poison_cuda_context(device); };
      backend = std::make_shared<FaultInjectingBackend>(
          backend, faults, r.global_stage, r.rank,
          [](const std::string&) { std::raise(SIGKILL); },  // as `kill -9`: nothing flushed, no goodbye
          poison);
    }
    backend = std::make_shared<ContextLossGuard>(backend, [name = config.nodes[me].name](const std::string& why) {
      std::cerr << "error: node " << name << ": " << why << "\n";
      end_process(kContextLostStatus);
    });
    return NodeShard{backend, cpu};
  }
};

// The ranks node `me` loads at start: those placement gives it; for a spare with preload, those
// of every executor node it could stand in for (it then takes over without loading) — not the
// head's: its loss ends the cluster, so no spare ever takes its ranks.
std::vector<const RankPlacement*> ranks_loaded_at_start(const ClusterConfig& config, const Placement& placement,
                                                        size_t me) {
  const NodeConfig& self = config.nodes[me];
  std::vector<const RankPlacement*> out;
  for (const RankPlacement& r : placement.ranks) {
    const bool replaceable = !config.nodes[r.node_index].has(NodeRole::Scheduler) &&
                             ranks_on(placement, r.node_index) <= self.spare_slots();
    if (r.node_index == me || (self.preload && replaceable)) out.push_back(&r);
  }
  return out;
}

// This node's cores split among the executors it runs at once: the ranks it holds, or a spare's slots.
int threads_each(const NodeConfig& node, int held, int threads) {
  const int cores = threads > 0 ? threads : omp_get_max_threads();
  return std::max(1, cores / std::max({1, node.has(NodeRole::Spare) ? node.spare_slots() : held}));
}

std::vector<NodeAddress> rank_nodes(const ClusterConfig& config, const Placement& placement) {
  std::vector<NodeAddress> out;
  for (const RankPlacement& r : placement.ranks) out.push_back({config.nodes[r.node_index].host, config.nodes[r.node_index].port});
  return out;
}


// The node's own wait: a signal ends it, or SIGUSR1 when no head came (gave_up raised it).
struct GiveUp {
  std::mutex mu;
  std::string why;
};

// The head, once its own node serves: joins the cluster, supervises it and serves HTTP (when it
// is the gateway) until a signal. Returns the exit status.
int run_head(caf::actor_system& sys, const ClusterConfig& config, const ClusterModel& model, const Placement& placement,
             const ClusterIdentity& identity, const NodeConfig& node, const caf::actor& self_node,
             const std::shared_ptr<const ModelFolder>& folder, const HttpServing& serving, const SchedulerConfig& scheduler,
             const sigset_t& signals) {
  auto health = std::make_shared<ClusterHealth>(initial_health(config));
  std::cerr << placement_table(config, model, placement) << std::flush;
  JoinedCluster joined;
  try {
    joined = join_cluster(sys, config, placement, identity, node.name, self_node, *health);
  } catch (const ClusterLaunchError& e) {
    for (const std::string& line : e.lines()) std::cerr << "error: " << line << "\n";
    return 1;
  }
  auto metrics = std::make_shared<ServerMetrics>(placement.data_parallel);
  // Everything a recovery names lives until the process ends (end_process), which this
  // function's caller does.
  ClusterEngineSetup setup;
  setup.config = &config;
  setup.placement = placement;
  setup.identity = identity;
  setup.head = node.name;
  setup.self_node = self_node;
  setup.health = health;
  setup.scheduler = scheduler;
  setup.metrics = metrics;
  const EngineActors engine = start_cluster_engine(sys, std::move(setup), joined);
  if (placement.data_parallel > 1)
    spdlog::info("cluster up: {} nodes, {} replicas of {} pipeline stage(s), {} routing", config.nodes.size(),
                 placement.data_parallel, placement.pipeline_parallel, routing_policy_name(serving.routing));
  else
    spdlog::info("cluster up: {} nodes, {} pipeline stages", config.nodes.size(), joined.stages.size());
  if (folder) {
    return serve_until_signal(sys, engine, folder, metrics, serving, signals, health);
  }
  int sig = 0;
  sigwait(&signals, &sig);
  stop_engine(engine);
  return 0;
}

// The scheduler's settings; kv_cache_gib is each executor's, so the pool is what the fullest
// executor can hold.
SchedulerConfig cluster_scheduler_config(const ClusterConfig& config, const ClusterModel& model, const Placement& placement) {
  const EngineOptions engine_options = engine_options_from(config.scheduler);
  int32_t kv_blocks = 0;
  if (engine_options.num_kv_blocks <= 0) {
    kv_blocks = executor_kv_blocks(config, placement);
    spdlog::info("KV cache: {} blocks of {} tokens ({} tokens; {} GiB on each executor)", kv_blocks,
                 engine_options.block_size, int64_t{kv_blocks} * engine_options.block_size, config.scheduler.kv_cache_gib);
  }
  return make_scheduler_config(engine_options, model.config, kv_blocks);
}

}  // namespace

void run_cluster_node(const ClusterNodeOptions& o) {
  const ClusterConfig config = load_cluster_config(o.config);
  const ClusterModel model = load_cluster_model(config, o.presets_dir);
  const Placement placement = place(config, model.config);
  const size_t me = node_index(config, o.name);
  const NodeConfig& node = config.nodes[me];
  refuse_unbuilt(config, config.scheduler_node());
  std::shared_ptr<FaultInjector> faults;
  if (!o.fault_plan.empty()) faults = std::make_shared<FaultInjector>(load_fault_plan(o.fault_plan));
  // Everything a bad argument can refuse is refused above, once, in the parent.
  const int incarnation = o.respawn > 0 ? run_respawning(o.respawn, node.name) : 0;
  if (faults && incarnation > 0) {
    spdlog::info("node {}: restart {}: runs without its fault plan (a drill's faults strike once)", node.name, incarnation);
    faults.reset();
  } else if (faults) {
    spdlog::warn("node {}: fault plan {} in force (tests and drills only)", node.name, o.fault_plan);
  }

  // Before any thread starts. SIGUSR1 is the node's own: it raises it when no head came in time.
  const sigset_t with_usr1 = block_shutdown_signals({SIGUSR1});
  sigset_t signals = with_usr1;
  sigdelset(&signals, SIGUSR1);
  const bool head = node.has(NodeRole::Scheduler);
  if (o.threads > 0) {
    omp_set_num_threads(o.threads);
    cpu::set_gemm_threads(o.threads);
  }
  cpu::set_batch_invariant(config.model.batch_invariant);
  const ClusterIdentity identity = identify_cluster(config, model, wire::wire_version());
  spdlog::info("node {} of {} ({}): {}", node.name, config.file.string(), node.address(),
               head                          ? "the head"
               : node.has(NodeRole::Spare) ? "a spare, waiting for head " + config.scheduler_node().name + " to need it"
                                           : "waiting for head " + config.scheduler_node().name);

  // What the head needs that can fail, checked before anything loads: the tokenizer a gateway
  // serves with, the scheduler's settings.
  std::shared_ptr<const ModelFolder> folder;
  SchedulerConfig scheduler;
  HttpServing serving;
  if (head) {
    if (node.has(NodeRole::Gateway)) {
      ModelFolder f = open_model_folder(model.dir);
      f.config = model.config;  // with model.max_model_len applied: the context requests are held to
      serving = cluster_http_serving(config, f);
      serving.routing = config.model.data_parallel_policy;
      folder = std::make_shared<const ModelFolder>(std::move(f));
    }
    scheduler = cluster_scheduler_config(config, model, placement);
  }

  auto give_up = std::make_shared<GiveUp>();
  NodeSetup setup;
  setup.name = node.name;
  setup.host = node.host;
  setup.port = node.port;
  setup.identity = identity;
  const ShardLoader loader{config, model, placement, me, faults};
  const int each = threads_each(node, ranks_on(placement, me), o.threads);
  for (const RankPlacement* r : ranks_loaded_at_start(config, placement, me))
    setup.shards[r->global_rank] = loader(*r, each);
  if (node.has(NodeRole::Spare))
    setup.load_shard = [loader, each](int32_t global_rank) {
      return loader(loader.placement.ranks.at(static_cast<size_t>(global_rank)), each);
    };
  setup.faults = faults;
  setup.tensor_parallel = placement.tensor_parallel;
  setup.rank_nodes = rank_nodes(config, placement);
  setup.tp_timeout = seconds_as_duration(config.cluster.tp_timeout_s);
  // A spare waits for as long as it runs: a head calls on it only after a loss.
  if (!node.has(NodeRole::Spare)) setup.join_timeout = seconds_as_duration(config.cluster.join_timeout_s);
  else setup.join_timeout = std::chrono::milliseconds(0);
  setup.gave_up = [give_up](const std::string& why) {
    {
      std::lock_guard lock(give_up->mu);
      give_up->why = why;
    }
    kill(getpid(), SIGUSR1);
  };
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  auto self_node = sys.spawn(node_actor, std::move(setup));
  if (auto bound = sys.middleman().publish(self_node, node.port, node.host.c_str(), true); !bound) {
    std::cerr << "error: node " << node.name << ": cannot listen on " << node.address() << ": " << sys.render(bound.error())
              << "\n";
    caf::anon_send_exit(self_node, caf::exit_reason::user_shutdown);
    end_process(1);
  }
  spdlog::info("node {} listening on {}", node.name, node.address());

  // Past this point the actor system runs: whatever fails ends the process (end_process), since
  // returning would wait in its destructor (see end_process).
  int status = 0;
  try {
    if (head) {
      status = run_head(sys, config, model, placement, identity, node, self_node, folder, serving, scheduler, signals);
    } else {
      int sig = 0;
      sigwait(&with_usr1, &sig);
      if (sig == SIGUSR1) {
        std::lock_guard lock(give_up->mu);
        std::cerr << "error: " << give_up->why << "\n";
        status = 1;
      } else {
        spdlog::info("signal {}: shutting down", sig);
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    status = 1;
  }
  caf::anon_send_exit(self_node, caf::exit_reason::user_shutdown);
  end_process(status);
}

}  // namespace troupe::cli
