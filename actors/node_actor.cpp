#include "actors/node_actor.h"

#include <algorithm>
#include <functional>
#include <set>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/executor_actor.h"
#include "actors/message_inspect.h"
#include "actors/tp_rank_actor.h"
#include "actors/troupe_error.h"
#include "engine/runtime/tensor_parallel_leader.h"

namespace troupe {
namespace {

using Self = caf::stateful_actor<NodeActorState>;

caf::error refusal(const std::string& why) { return caf::make_error(troupe_error::node_refused, why); }

void end_stages(Self* self, caf::error reason) {
  for (auto& [stage, running] : self->state.stages) self->send_exit(running.executor, reason);
  self->state.stages.clear();
  for (auto& [rank, actor] : self->state.ranks) self->send_exit(actor, reason);
  self->state.ranks.clear();
  self->state.after_down.clear();  // what they were to start was the old head's
}

bool is_me(const NodeSetup& s, const std::string& host, uint16_t port) { return host == s.host && port == s.port; }

// Asks the node actor published at host:port for one of its actors with `query` (stage_of,
// tp_rank_of), over this node's own connection to that node (the middleman's asynchronous
// connect, so this actor never blocks a scheduler thread): proxies of that node's actors then
// route directly, never through the head. `done` gets the actor or why not.
void ask_node_at(Self* self, const std::string& host, uint16_t port, caf::message query, const std::string& what,
                 std::function<void(caf::expected<caf::actor>)> done) {
  const std::string where = host + ":" + std::to_string(port);
  self->request(self->system().middleman().actor_handle(), std::chrono::seconds(30), caf::connect_atom::value, host, port)
      .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& node, const std::set<std::string>&) {
            if (!node) return done(refusal("nothing is published at " + where));
            self->request(caf::actor_cast<caf::actor>(node), std::chrono::seconds(30), query)
                .then(
                    [=](const caf::actor& found) {
                      if (found) done(found);
                      else done(refusal(what + " is not running at " + where));
                    },
                    [=](caf::error& err) { done(std::move(err)); });
          },
          [=](caf::error& err) {
            done(refusal("node " + self->state.setup.name + " cannot reach " + where + ": " + self->system().render(err)));
          });
}

// Waits `join_timeout` for a head from now; the epoch tells this wait from later ones.
void await_head(Self* self) {
  if (self->state.setup.join_timeout.count() == 0) return;  // a spare: no deadline
  self->delayed_send(self, self->state.setup.join_timeout, join_deadline_atom::value, self->state.head_epoch);
}

// `followers`: the stage's TP ranks 1.. (empty at tp 1), whose actors get every op rank 0 runs.
caf::actor spawn_stage(Self* self, int32_t stage, caf::actor next, std::vector<caf::actor> followers) {
  auto& st = self->state;
  std::shared_ptr<ModelBackend> backend = st.setup.shards.at(stage * st.setup.tensor_parallel).backend;
  if (!followers.empty())
    backend = std::make_shared<TensorParallelLeader>(backend, [followers](const TpRankOp& op) {
      for (const caf::actor& rank : followers) caf::anon_send(rank, tp_rank_op_atom::value, op);
    });
  NodeStage running;
  // A whole model on one executor: the plain executor (it polls a GPU step instead of blocking).
  if (!next && is_first_stage(backend->layers()) && is_last_stage(backend->layers(), backend->config())) {
    running.executor = self->spawn<caf::monitored + caf::detached>(executor_actor, backend);
  } else {
    running.clock = std::make_shared<StageClock>();
    running.executor = self->spawn<caf::monitored + caf::detached>(pipeline_stage_actor, backend, next, running.clock);
  }
  const caf::actor executor = running.executor;
  st.stages[stage] = std::move(running);
  spdlog::info("node {}: stage {} executor started (layers [{}, {}){})", st.setup.name, stage, backend->layers().begin,
               backend->layers().end,
               followers.empty() ? "" : ", tensor-parallel rank 0 of " + std::to_string(followers.size() + 1));
  return executor;
}

// What a stage executor is wired to before it starts: its successor and its TP ranks 1.., each
// found here or asked of its node; the answer goes out once every lookup is back.
struct StageWiring {
  caf::typed_response_promise<caf::actor> promise;
  int32_t stage = 0;
  caf::actor next;
  std::vector<caf::actor> followers;
  int pending = 0;
  caf::error failed;
};

void wired(Self* self, const std::shared_ptr<StageWiring>& w) {
  if (--w->pending > 0) return;
  if (w->failed) w->promise.deliver(std::move(w->failed));
  else w->promise.deliver(spawn_stage(self, w->stage, w->next, w->followers));
}

// Fills `slot` from `found` (or records why not) and counts the lookup done.
std::function<void(caf::expected<caf::actor>)> fill(Self* self, std::shared_ptr<StageWiring> w, caf::actor* slot) {
  return [self, w, slot](caf::expected<caf::actor> found) {
    if (found) *slot = *found;
    else if (!w->failed) w->failed = found.error();
    wired(self, w);
  };
}

void wire_and_spawn_stage(Self* self, caf::typed_response_promise<caf::actor> promise, int32_t stage,
                          const std::string& next_host, uint16_t next_port) {
  auto& st = self->state;
  const int32_t tp = st.setup.tensor_parallel;
  auto w = std::make_shared<StageWiring>();
  w->promise = promise;
  w->stage = stage;
  w->followers.resize(static_cast<size_t>(tp - 1));
  w->pending = 1;  // released at the end, so lookups answered at once cannot finish early
  if (!next_host.empty()) {
    if (is_me(st.setup, next_host, next_port)) {
      auto next = st.stages.find(stage + 1);
      if (next == st.stages.end()) {
        promise.deliver(refusal("stage " + std::to_string(stage + 1) + " is not running here"));
        return;
      }
      w->next = next->second.executor;
    } else {
      ++w->pending;
      ask_node_at(self, next_host, next_port, caf::make_message(stage_of_atom::value, stage + 1),
                  "stage " + std::to_string(stage + 1), fill(self, w, &w->next));
    }
  }
  if (tp > 1 && !st.ranks.count(stage * tp)) {
    promise.deliver(refusal("stage " + std::to_string(stage) + " rank 0's group is not connected here"));
    return;
  }
  for (int32_t r = 1; r < tp; ++r) {
    const int32_t g = stage * tp + r;
    const NodeAddress& at = st.setup.rank_nodes.at(static_cast<size_t>(g));
    caf::actor* slot = &w->followers[static_cast<size_t>(r - 1)];
    if (is_me(st.setup, at.host, at.port)) {
      auto it = st.ranks.find(g);
      if (it == st.ranks.end()) {
        promise.deliver(refusal("stage " + std::to_string(stage) + " rank " + std::to_string(r) + " is not running here"));
        return;
      }
      *slot = it->second;
    } else {
      ++w->pending;
      ask_node_at(self, at.host, at.port, caf::make_message(tp_rank_of_atom::value, stage, r),
                  "stage " + std::to_string(stage) + " rank " + std::to_string(r), fill(self, w, slot));
    }
  }
  wired(self, w);
}

// Runs `then` once every actor of `old` is down (at once when none is left), having told them to
// end: a new executor or rank over a shard must not start while an old one may still be inside a
// step (a TP rank waits in a collective up to tp_timeout), since both would use the model's
// workspaces, its KV cache and (TP) its group.
void after_end_of(Self* self, std::vector<caf::actor> old, std::function<void()> then) {
  std::erase_if(old, [](const caf::actor& a) { return !a; });
  if (old.empty()) return then();
  auto left = std::make_shared<size_t>(old.size());
  for (const caf::actor& a : old) {
    self->send_exit(a, caf::exit_reason::user_shutdown);
    self->state.after_down.emplace_back(a.address(), [left, then] {
      if (--*left == 0) then();
    });
  }
}

// Takes `key`'s actor out of `running` (null if none), for after_end_of.
template <class Map, class Get>
caf::actor take(Map& running, int32_t key, Get get) {
  auto it = running.find(key);
  if (it == running.end()) return {};
  caf::actor a = get(it->second);
  running.erase(it);
  return a;
}

}  // namespace

caf::behavior node_actor(Self* self, NodeSetup setup) {
  self->state.setup = std::move(setup);
  await_head(self);
  self->set_down_handler([=](const caf::down_msg& down) {
    auto& st = self->state;
    // An actor replaced by a successor: start that, nothing else to do.
    if (auto waiting = std::find_if(st.after_down.begin(), st.after_down.end(),
                                    [&](const auto& w) { return w.first == down.source; });
        waiting != st.after_down.end()) {
      std::function<void()> then = std::move(waiting->second);
      st.after_down.erase(waiting);
      return then();
    }
    if (st.head && down.source == st.head.address()) {
      spdlog::warn("node {}: head {} lost ({}); its stages end, the loaded shards stay; waiting up to {} s for a head",
                   st.setup.name, st.head_name, self->system().render(down.reason),
                   std::chrono::duration_cast<std::chrono::seconds>(st.setup.join_timeout).count());
      st.head = caf::actor{};
      ++st.head_epoch;
      end_stages(self, caf::exit_reason::user_shutdown);
      await_head(self);
      return;
    }
    for (auto it = st.stages.begin(); it != st.stages.end(); ++it)
      if (it->second.executor.address() == down.source) {
        spdlog::error("node {}: stage {} executor ended: {}", st.setup.name, it->first, self->system().render(down.reason));
        st.stages.erase(it);
        return;
      }
    for (auto it = st.ranks.begin(); it != st.ranks.end(); ++it)
      if (it->second.address() == down.source) {
        spdlog::error("node {}: tensor-parallel rank (global {}) ended: {}", st.setup.name, it->first,
                      self->system().render(down.reason));
        st.ranks.erase(it);
        return;
      }
  });
  self->set_exit_handler([=](const caf::exit_msg& exit) {
    end_stages(self, exit.reason);
    self->quit(exit.reason);
  });
  return {
      [=](join_atom, const ClusterIdentity& theirs, const std::string& head_name,
          const caf::actor& head) -> caf::result<std::string> {
        auto& st = self->state;
        if (std::string diff = identity_difference(st.setup.identity, st.setup.name, theirs, head_name); !diff.empty()) {
          spdlog::error("node {}: refused head {}: {}", st.setup.name, head_name, diff);
          return refusal(diff);
        }
        if (st.head && st.head != head)
          return refusal("node " + st.setup.name + " already serves head " + st.head_name);
        if (!head) return refusal("a join names no head actor");
        if (st.head != head) {
          st.head = head;
          st.head_name = head_name;
          if (head.node() != self->node()) self->monitor(head);  // the head's own node does not watch itself
          spdlog::info("node {}: joined head {}", st.setup.name, head_name);
        }
        return st.setup.name;
      },
      [=](spawn_stage_atom, int32_t stage, const std::string& next_host, uint16_t next_port) -> caf::result<caf::actor> {
        auto& st = self->state;
        if (!st.head) return refusal("spawn before a head joined");
        if (!st.setup.shards.count(stage * st.setup.tensor_parallel))
          return refusal("node " + st.setup.name + " holds no shard of stage " + std::to_string(stage) +
                         (st.setup.tensor_parallel > 1 ? " rank 0" : ""));
        caf::actor old = take(st.stages, stage, [](const NodeStage& s) { return s.executor; });
        auto promise = self->make_response_promise<caf::actor>();
        after_end_of(self, {old}, [=] { wire_and_spawn_stage(self, promise, stage, next_host, next_port); });
        return promise;
      },
      [=](spawn_tp_rank_atom, int32_t stage, int32_t rank, const caf::actor& board,
          const std::string& prefix) -> caf::result<caf::actor> {
        auto& st = self->state;
        if (!st.head) return refusal("spawn before a head joined");
        const int32_t g = stage * st.setup.tensor_parallel + rank;
        auto shard = st.setup.shards.find(g);
        if (shard == st.setup.shards.end() || !shard->second.model)
          return refusal("node " + st.setup.name + " holds no shard of stage " + std::to_string(stage) + " rank " +
                         std::to_string(rank));
        // Rank 0's shard is also the stage executor's: that one must be gone too before the
        // shard joins a new group.
        std::vector<caf::actor> old{take(st.ranks, g, [](const caf::actor& a) { return a; })};
        if (rank == 0) old.push_back(take(st.stages, stage, [](const NodeStage& s) { return s.executor; }));
        TpRankSetup setup{shard->second.backend, shard->second.model, stage, rank, st.setup.tensor_parallel,
                          st.setup.host, st.setup.tp_timeout};
        auto promise = self->make_response_promise<caf::actor>();
        after_end_of(self, std::move(old), [=]() mutable {
          caf::actor actor = self->spawn<caf::monitored + caf::detached>(tp_rank_actor, setup);
          self->state.ranks[g] = actor;
          // It answers once every rank of the group has connected (bounded by tp_timeout).
          promise.delegate(actor, tp_connect_atom::value, board, prefix);
        });
        return promise;
      },
      [=](tp_rank_of_atom, int32_t stage, int32_t rank) {
        auto it = self->state.ranks.find(stage * self->state.setup.tensor_parallel + rank);
        return it == self->state.ranks.end() ? caf::actor{} : it->second;
      },
      [=](stage_of_atom, int32_t stage) {
        auto it = self->state.stages.find(stage);
        return it == self->state.stages.end() ? caf::actor{} : it->second.executor;
      },
      [=](heartbeat_atom) -> caf::result<NodeReport> {
        const auto& faults = self->state.setup.faults;
        // A promise never delivered: the head's request times out as behind a cut link.
        if (faults && faults->drops_heartbeats(std::chrono::steady_clock::now()))
          return self->make_response_promise<NodeReport>();
        NodeReport r{self->state.setup.name, {}};
        for (const auto& [stage, running] : self->state.stages)
          if (running.clock) r.stages.push_back(StageTimes{stage, running.clock->steps.load(), running.clock->busy_us.load()});
        return r;
      },
      [=](load_shard_atom, int32_t global_rank) -> caf::result<bool> {
        auto& st = self->state;
        if (st.setup.shards.count(global_rank)) return true;
        if (!st.setup.load_shard)
          return refusal("node " + st.setup.name + " holds no shard of rank " + std::to_string(global_rank));
        auto& load = st.loading[global_rank];
        const bool started = static_cast<bool>(load);
        if (!started) load = std::make_shared<ShardLoad>();
        auto promise = self->make_response_promise<bool>();
        load->waiting.push_back(promise);
        if (started) return promise;
        spdlog::info("node {}: loading the shard of rank {} for head {}", st.setup.name, global_rank, st.head_name);
        // Loading takes seconds to minutes: not on the node's thread, which answers heartbeats.
        std::thread([load, fn = st.setup.load_shard, global_rank, me = caf::actor_cast<caf::actor>(self)] {
          try {
            load->shard = fn(global_rank);
          } catch (const std::exception& e) {
            load->error = e.what();
          }
          caf::anon_send(me, shard_loaded_atom::value, global_rank);
        }).detach();
        return promise;
      },
      [=](shard_loaded_atom, int32_t global_rank) {
        auto& st = self->state;
        auto it = st.loading.find(global_rank);
        if (it == st.loading.end()) return;
        const std::shared_ptr<ShardLoad> load = it->second;
        st.loading.erase(it);
        if (load->shard) st.setup.shards[global_rank] = std::move(*load->shard);
        for (auto& p : load->waiting)
          if (load->error.empty()) p.deliver(true);
          else p.deliver(refusal("node " + st.setup.name + " could not load rank " + std::to_string(global_rank) +
                                 ": " + load->error));
      },
      [=](join_deadline_atom, uint64_t epoch) {
        auto& st = self->state;
        if (st.head || epoch != st.head_epoch) return;
        const std::string why = "no head joined node " + st.setup.name + " within " +
                                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(st.setup.join_timeout).count()) +
                                " s (cluster.join_timeout_s)";
        if (st.setup.gave_up) st.setup.gave_up(why);
      },
  };
}

}  // namespace troupe
