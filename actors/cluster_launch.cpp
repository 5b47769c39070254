#include "actors/cluster_launch.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/message_inspect.h"
#include "actors/rendezvous_actor.h"
#include "actors/troupe_error.h"

namespace troupe {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// CAF's remote_actor connects with a blocking connect(), which on an address that drops packets
// waits for the kernel's timeout (minutes). A connect bounded by `timeout` first: "" when a
// listener answered, else why not.
std::string probe_tcp(const std::string& host, uint16_t port, milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
    return std::string("cannot resolve the address: ") + gai_strerror(rc);
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, &freeaddrinfo);
  const int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  std::string why;
  if (connect(fd, found->ai_addr, found->ai_addrlen) != 0 && errno != EINPROGRESS) {
    why = std::strerror(errno);
  } else {
    pollfd p{fd, POLLOUT, 0};
    const int ready = poll(&p, 1, static_cast<int>(timeout.count()));
    int err = 0;
    socklen_t len = sizeof err;
    if (ready == 0) why = "no answer within " + std::to_string(timeout.count()) + " ms";
    else if (ready < 0) why = std::string("poll: ") + std::strerror(errno);
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) why = std::strerror(err ? err : errno);
  }
  close(fd);
  return why;
}

// The text a node put in its refusal (CAF carries it as the error's context); an error with no
// text (a timeout, a lost connection) rendered whole.
std::string refusal_text(caf::actor_system& sys, const caf::error& err) {
  if (std::string text = error_message(err); !text.empty()) return text;
  return sys.render(err);
}

milliseconds left_until(Clock::time_point deadline) {
  return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
}

// "stage 1", or with replicas "replica 1 stage 0": how logs and errors name a stage.
std::string stage_name(const Placement& p, const RankPlacement& r) {
  return (p.data_parallel > 1 ? "replica " + std::to_string(r.replica) + " " : std::string()) + "stage " +
         std::to_string(r.stage);
}

struct Pending {
  size_t index = 0;                    // into config.nodes
  std::string last_error = "not tried yet";
  caf::actor proxy;                    // connected, not joined yet
};

// Starts every TP rank on its node and waits for every group to connect: the requests go out
// together (the ranks of a group wait for each other), then each answer is collected.
void connect_tp_groups(caf::actor_system& sys, caf::scoped_actor& self, const ClusterConfig& config,
                       const Placement& placement, JoinedCluster& joined) {
  if (placement.tensor_parallel <= 1) return;
  joined.rendezvous = sys.spawn(rendezvous_actor);
  const milliseconds timeout = seconds_as_duration(config.cluster.tp_timeout_s);
  std::vector<caf::response_handle<caf::blocking_actor, caf::message, true>> answers;
  for (const RankPlacement& r : placement.ranks)
    answers.push_back(self->request(joined.nodes[r.node_index], timeout + milliseconds(5000), spawn_tp_rank_atom::value,
                                    r.global_stage, r.rank, joined.rendezvous, "stage" + std::to_string(r.global_stage)));
  std::vector<std::string> failures;
  for (size_t i = 0; i < answers.size(); ++i) {
    const RankPlacement& r = placement.ranks[i];
    answers[i].receive([](const caf::actor&) {},
                       [&](caf::error& err) {
                         failures.push_back("node " + r.node + ": " + stage_name(placement, r) + " rank " +
                                            std::to_string(r.rank) + ": " + refusal_text(sys, err));
                       });
  }
  if (!failures.empty()) throw ClusterLaunchError(std::move(failures));
  const size_t groups = placement.ranks.size() / static_cast<size_t>(placement.tensor_parallel);
  spdlog::info("cluster: {} tensor-parallel group{} of {} connected", groups, groups == 1 ? "" : "s",
               placement.tensor_parallel);
}

// Every rank's node holds its shard before any group or stage starts: asked all at once, so
// spares load in parallel. Bounded by the join's deadline, or 30 s past it for a load under way.
void load_shards(caf::actor_system& sys, caf::scoped_actor& self, const Placement& placement,
                 const JoinedCluster& joined, Clock::time_point deadline) {
  const milliseconds timeout = std::max(milliseconds(30'000), left_until(deadline));
  std::vector<caf::response_handle<caf::blocking_actor, caf::message, true>> answers;
  for (const RankPlacement& r : placement.ranks)
    answers.push_back(self->request(joined.nodes[r.node_index], timeout, load_shard_atom::value, r.global_rank));
  std::vector<std::string> failures;
  for (size_t i = 0; i < answers.size(); ++i)
    answers[i].receive([](bool) {},
                       [&](caf::error& err) {
                         failures.push_back("node " + placement.ranks[i].node + ": " + refusal_text(sys, err));
                       });
  if (!failures.empty()) throw ClusterLaunchError(std::move(failures));
}

}  // namespace

ClusterLaunchError::ClusterLaunchError(std::vector<std::string> lines, std::vector<size_t> missing)
    : std::runtime_error([&] {
        std::string all;
        for (const std::string& l : lines) all += (all.empty() ? "" : "\n") + l;
        return all;
      }()),
      lines_(std::move(lines)),
      missing_(std::move(missing)) {}

JoinedCluster join_cluster(caf::actor_system& sys, const ClusterConfig& config, const Placement& placement,
                           const ClusterIdentity& identity, const std::string& head, const caf::actor& self_node,
                           ClusterHealth& health, std::optional<milliseconds> join_timeout_override) {
  const milliseconds join_timeout = join_timeout_override.value_or(seconds_as_duration(config.cluster.join_timeout_s));
  const Clock::time_point deadline = Clock::now() + join_timeout;
  JoinedCluster joined;
  joined.nodes.resize(config.nodes.size());
  const std::vector<size_t> placed = placed_nodes(placement);
  std::vector<Pending> pending;
  for (size_t i = 0; i < config.nodes.size(); ++i) {
    const bool is_head = config.nodes[i].name == head;
    if (is_head) joined.nodes[i] = self_node;
    if (is_head || std::find(placed.begin(), placed.end(), i) != placed.end()) pending.emplace_back().index = i;
  }
  caf::scoped_actor self{sys};
  milliseconds backoff{250};
  for (;;) {
    for (auto it = pending.begin(); it != pending.end();) {
      const NodeConfig& n = config.nodes[it->index];
      if (!it->proxy && joined.nodes[it->index]) it->proxy = joined.nodes[it->index];
      if (!it->proxy) {
        if (std::string why = probe_tcp(n.host, n.port, std::min(milliseconds(1000), left_until(deadline))); !why.empty()) {
          it->last_error = why;
          ++it;
          continue;
        }
        auto proxy = sys.middleman().remote_actor(n.host, n.port);
        if (!proxy) {
          it->last_error = sys.render(proxy.error());
          ++it;
          continue;
        }
        it->proxy = *proxy;
      }
      bool done = false;
      self->request(it->proxy, std::max(milliseconds(1), std::min(milliseconds(10'000), left_until(deadline))),
                    join_atom::value, identity, head, self_node)
          .receive(
              [&](const std::string&) { done = true; },
              [&](caf::error& err) {
                if (troupe_error_code(err) == troupe_error::node_refused)
                  throw ClusterLaunchError({"node " + n.name + " (" + n.address() + ") refused to join: " +
                                            refusal_text(sys, err)});
                it->last_error = sys.render(err);
                it->proxy = caf::actor{};
              });
      if (!done) {
        ++it;
        continue;
      }
      joined.nodes[it->index] = it->proxy;
      health.set_up(n.name);
      spdlog::info("cluster: node {} ({}) joined", n.name, n.address());
      it = pending.erase(it);
    }
    if (pending.empty()) break;
    if (Clock::now() >= deadline) {
      std::vector<std::string> lines;
      std::vector<size_t> missing;
      for (const Pending& p : pending) {
        lines.push_back("node " + config.nodes[p.index].name + " (" + config.nodes[p.index].address() +
                        ") did not join within " + fmt::format("{:g}", join_timeout.count() / 1000.0) + " s (" +
                        (join_timeout_override ? "cluster.spare_after_s" : "cluster.join_timeout_s") +
                        "): " + p.last_error);
        missing.push_back(p.index);
      }
      throw ClusterLaunchError(std::move(lines), std::move(missing));
    }
    std::this_thread::sleep_for(std::min(backoff, left_until(deadline)));
    backoff = std::min(milliseconds(2000), backoff * 2);
  }

  load_shards(sys, self, placement, joined, deadline);
  connect_tp_groups(sys, self, config, placement, joined);

  // Stages last first: each is started knowing its successor (in its own replica). Nodes key them
  // by global stage, so several replicas' stages may share a node.
  std::vector<const RankPlacement*> leaders;  // each stage's rank 0, in global-stage order
  for (const RankPlacement& r : placement.ranks)
    if (r.rank == 0) leaders.push_back(&r);
  joined.stages.resize(leaders.size());
  const milliseconds spawn_timeout = std::max(milliseconds(30'000), left_until(deadline));
  for (size_t i = leaders.size(); i-- > 0;) {
    const RankPlacement& r = *leaders[i];
    std::string next_host;
    uint16_t next_port = 0;
    if (r.stage + 1 < placement.pipeline_parallel) {
      const NodeConfig& next = config.nodes[leaders[i + 1]->node_index];
      next_host = next.host;
      next_port = next.port;
    }
    self->request(joined.nodes[r.node_index], spawn_timeout, spawn_stage_atom::value, r.global_stage, next_host, next_port)
        .receive([&](const caf::actor& stage) { joined.stages[i] = stage; },
                 [&](caf::error& err) {
                   throw ClusterLaunchError({"node " + r.node + " could not start " + stage_name(placement, r) + ": " +
                                             refusal_text(sys, err)});
                 });
  }
  return joined;
}

JoinedCluster rejoin_cluster(caf::actor_system& sys, const ClusterConfig& config, Placement& placement,
                             const ClusterIdentity& identity, const std::string& head, const caf::actor& self_node,
                             ClusterHealth& health, const std::string& lost) {
  const auto lost_at = std::find_if(config.nodes.begin(), config.nodes.end(),
                                    [&](const NodeConfig& n) { return n.name == lost; });
  const bool spare_free = lost_at != config.nodes.end() &&
                          move_to_spare(config, placement, static_cast<size_t>(lost_at - config.nodes.begin()));
  if (!spare_free) return join_cluster(sys, config, placement, identity, head, self_node, health);
  try {
    return join_cluster(sys, config, placement, identity, head, self_node, health,
                        seconds_as_duration(config.cluster.spare_after_s));
  } catch (const ClusterLaunchError& e) {
    if (e.missing().empty()) throw;
    Placement moved = placement;
    std::vector<std::pair<std::string, std::string>> replaced;  // (missing node, its spare)
    for (size_t missing : e.missing()) {
      std::optional<SpareMove> next = move_to_spare(config, moved, missing);
      if (!next) {
        std::vector<std::string> lines = e.lines();
        lines.push_back("no spare is left to take node " + config.nodes[missing].name + "'s shards");
        throw ClusterLaunchError(std::move(lines));
      }
      const std::string& spare = config.nodes[next->spare].name;
      spdlog::warn("cluster: node {} did not come back within {:g} s (cluster.spare_after_s); spare {} takes its shards",
                   config.nodes[missing].name, config.cluster.spare_after_s, spare);
      replaced.emplace_back(config.nodes[missing].name, spare);
      moved = std::move(next->placement);
    }
    JoinedCluster joined = join_cluster(sys, config, moved, identity, head, self_node, health);
    for (const auto& [node, spare] : replaced) health.set_replaced(node, spare);
    placement = std::move(moved);
    return joined;
  }
}

}  // namespace troupe
