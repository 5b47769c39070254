#include "actors/cluster_supervisor_actor.h"

#include <algorithm>
#include <chrono>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/message_inspect.h"

namespace troupe {
namespace {

using Self = caf::stateful_actor<ClusterSupervisorState>;
// Each beat wakes CAF workers on both ends, which then poll for ~25 ms before they sleep (CAF's
// work stealing): about 15 ms of CPU per node and beat. At 1 s three idle nodes spent ~5 % of a
// core on it; at 5 s about 1 %. (A lost connection is noticed at once without it; the beat is for
// the stage times and silent partitions, so it comes at least three times per heartbeat_timeout.)
constexpr std::chrono::milliseconds kHeartbeatEvery{5'000};

// Serving ends: requests in flight get `why`, and so does every later one. One data-parallel
// replica of several is gone instead: its gateways move its requests to the others (as in one
// process, scheduler_supervision.h), and only with none left do requests end.
void end_serving(Self* self, const std::string& why) {
  auto& s = self->state;
  if (s.scheduling.data_parallel) {
    spdlog::error("cluster: {}; {}", why, budget_spent_consequence(s.scheduling));
    s.executor = caf::actor{};
    set_paused(self, s.scheduling, false);  // gone rather than paused: its gauges read 0
    return hand_executor(self, s.scheduling, caf::actor{});
  }
  spdlog::error("cluster: {}; requests in flight end with this error and new ones are refused", why);
  s.executor = caf::actor{};
  if (s.scheduling.metrics) s.scheduling.metrics->engine_alive = false;
  for (const caf::actor& g : s.scheduling.gateways) self->send(g, engine_lost_atom::value, why);
  if (s.scheduling.scheduler) self->send_exit(s.scheduling.scheduler, caf::exit_reason::user_shutdown);
}

// The node a stage executor runs on: the member whose node actor lives in the same process.
std::string node_of(const ClusterSupervisorState& s, const caf::actor& stage) {
  for (const ClusterMember& n : s.nodes)
    if (n.actor && n.actor.node() == stage.node()) return n.name;
  return "";
}

// Joins the nodes again and starts the stages, on a thread of its own (join_cluster blocks); the
// answer comes back as (relaunched, nodes, stages, rendezvous) or (relaunch_failed, why).
void start_relaunch(Self* self, const std::string& lost) {
  auto sup = caf::actor_cast<caf::actor>(self);
  self->spawn<caf::detached>([relaunch = self->state.relaunch, sup, lost](caf::blocking_actor* b) {
    try {
      JoinedCluster joined = relaunch(lost);
      b->send(sup, relaunched_atom::value, std::move(joined.nodes), std::move(joined.stages), joined.rendezvous);
    } catch (const std::exception& e) {
      b->send(sup, relaunch_failed_atom::value, std::string(e.what()));
    }
  });
}

// The first loss ends every stage executor (the survivors' too: a pipeline or TP group runs
// together, and the scheduler's plans in flight are void); the cluster is then relaunched within
// the budget, or serving ends.
void lose(Self* self, const std::string& node, const std::string& why) {
  auto& s = self->state;
  s.health->set_lost(node, why);
  if (!s.executor) return;  // already lost or recovering: this is a consequence
  s.executor = caf::actor{};
  for (const ClusterMember& m : s.stages) self->send_exit(m.actor, caf::exit_reason::user_shutdown);
  s.stages.clear();
  if (!s.relaunch || s.recoveries >= s.scheduling.max_restarts)
    return end_serving(self, s.relaunch ? why + " (recovery budget of " + std::to_string(s.scheduling.max_restarts) +
                                              " spent)"
                                        : why);
  ++s.recoveries;
  s.recovering = true;
  s.lost_at = std::chrono::steady_clock::now();
  spdlog::warn("cluster: {}; recovering ({} of {}): streams pause, every node joins again (the lost one once its "
               "process is back) and running sequences are recomputed",
               why, s.recoveries, s.scheduling.max_restarts);
  set_paused(self, s.scheduling, true);  // data parallel: the other replicas serve meanwhile
  start_relaunch(self, node);
}

void relaunched(Self* self, std::vector<caf::actor> nodes, std::vector<caf::actor> stages, caf::actor rendezvous) {
  auto& s = self->state;
  s.recovering = false;
  for (size_t i = 0; i < nodes.size() && i < s.nodes.size(); ++i) {
    s.nodes[i].actor = nodes[i];
    if (nodes[i] && nodes[i].node() != self->node()) self->monitor(nodes[i]);
  }
  for (size_t i = 0; i < stages.size(); ++i) {
    s.stages.push_back({node_of(s, stages[i]), stages[i]});
    self->monitor(stages[i]);
    if (s.scheduling.metrics) s.scheduling.metrics->count_restart("stage_executor", s.stages.back().name);
  }
  s.rendezvous = std::move(rendezvous);
  s.answered.clear();  // every node answered its join just now
  s.executor = s.stages.front().actor;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - s.lost_at).count();
  s.health->recovered(seconds);
  spdlog::info("cluster: recovered in {:.2f} s: every stage is running again; the scheduler recomputes what was running",
               seconds);
  hand_executor(self, s.scheduling, s.executor);
  set_paused(self, s.scheduling, false);
}

// Asks every node for its stage times; a node (other than this one) that has answered none for
// heartbeat_timeout is lost, unless a recovery is under way (that waits for it by join_timeout).
void heartbeat(Self* self) {
  auto& s = self->state;
  const auto now = std::chrono::steady_clock::now();
  for (const ClusterMember& n : s.nodes) {
    if (!n.actor || n.actor.node() == self->node()) continue;
    auto last = s.answered.try_emplace(n.name, now).first->second;
    if (s.executor && now - last > s.heartbeat_timeout) {
      lose(self, n.name,
           fmt::format("node {} answered no heartbeat for {:.1f} s (cluster.heartbeat_timeout_s)", n.name,
                       std::chrono::duration<double>(now - last).count()));
      return self->delayed_send(self, s.heartbeat_every, heartbeat_atom::value);
    }
  }
  for (const ClusterMember& n : s.nodes)
    if (n.actor)
      self->request(n.actor, s.heartbeat_every, heartbeat_atom::value)
          .then(
              [=](NodeReport& r) {
                self->state.answered[r.name] = std::chrono::steady_clock::now();
                self->state.health->heartbeat(r.name, std::move(r.stages));
              },
              [](caf::error&) {});  // a lost connection is reported by its down message
  self->delayed_send(self, s.heartbeat_every, heartbeat_atom::value);
}

}  // namespace

caf::behavior cluster_supervisor_actor(Self* self, std::vector<ClusterMember> nodes, std::vector<ClusterMember> stages,
                                       SchedulerConfig config, ClusterSupervision supervision,
                                       std::shared_ptr<ClusterHealth> health, std::shared_ptr<ServerMetrics> metrics,
                                       caf::actor kv_manager) {
  auto& st = self->state;
  st.nodes = std::move(nodes);
  st.stages = std::move(stages);
  st.relaunch = std::move(supervision.relaunch);
  st.heartbeat_timeout = supervision.heartbeat_timeout;
  st.heartbeat_every = std::min(kHeartbeatEvery, supervision.heartbeat_timeout / 3);
  st.health = std::move(health);
  st.executor = st.stages.front().actor;
  for (const ClusterMember& m : st.nodes)
    if (m.actor && m.actor.node() != self->node()) self->monitor(m.actor);
  for (const ClusterMember& m : st.stages) self->monitor(m.actor);
  config.pipeline_stages = static_cast<int32_t>(st.stages.size());
  st.scheduling.config = config;
  st.scheduling.metrics = std::move(metrics);
  st.scheduling.max_restarts = supervision.max_restarts;
  st.scheduling.data_parallel = static_cast<bool>(kv_manager);  // shared: one of several replicas
  start_kv_manager(self, st.scheduling, std::move(kv_manager));
  start_scheduler(self, st.scheduling, st.executor);
  self->set_exit_handler([=](const caf::exit_msg& exit) {
    auto& s = self->state;
    for (const ClusterMember& m : s.stages) self->send_exit(m.actor, exit.reason);
    if (s.scheduling.scheduler) self->send_exit(s.scheduling.scheduler, exit.reason);
    if (s.scheduling.kv_manager) self->send_exit(s.scheduling.kv_manager, exit.reason);
    self->quit(exit.reason);
  });
  self->set_down_handler([=](const caf::down_msg& down) {
    auto& s = self->state;
    const std::string reason = self->system().render(down.reason);
    for (const ClusterMember& n : s.nodes)
      if (n.actor.address() == down.source) return lose(self, n.name, "node " + n.name + " lost (" + reason + ")");
    for (size_t i = 0; i < s.stages.size(); ++i)
      if (s.stages[i].actor.address() == down.source)
        return lose(self, s.stages[i].name,
                    "pipeline stage " + std::to_string(i) + " on node " + s.stages[i].name + " ended (" + reason + ")");
    if (on_kv_manager_down(self, s.scheduling, down)) return;
    on_scheduler_down(self, s.scheduling, down, s.executor,
                      /*executor_may_come=*/static_cast<bool>(s.executor) || s.recovering);
  });
  heartbeat(self);
  return {
      [=](engine_atom) { return caf::make_message(self->state.scheduling.scheduler, self->state.executor); },
      [=](gateway_atom, caf::actor gateway) { add_gateway(self, self->state.scheduling, std::move(gateway)); },
      [=](kv_manager_atom) { return self->state.scheduling.kv_manager; },
      [=](heartbeat_atom) { heartbeat(self); },
      [=](relaunched_atom, std::vector<caf::actor>& nodes, std::vector<caf::actor>& stages, caf::actor& rendezvous) {
        relaunched(self, std::move(nodes), std::move(stages), std::move(rendezvous));
      },
      [=](relaunch_failed_atom, const std::string& why) {
        self->state.recovering = false;
        end_serving(self, "recovery failed: " + why);
      },
  };
}

}  // namespace troupe
