#include "actors/node_actor.h"

#include <set>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/executor_actor.h"
#include "actors/message_inspect.h"

namespace troupe {
namespace {

using Self = caf::stateful_actor<NodeActorState>;
using join_deadline_atom = caf::atom_constant<caf::atom("joindue")>;  // node -> itself: (join_deadline, epoch)

caf::error refusal(const std::string& why) { return caf::make_error(caf::sec::invalid_argument, why); }

void end_stages(Self* self, caf::error reason) {
  for (auto& [stage, running] : self->state.stages) self->send_exit(running.executor, reason);
  self->state.stages.clear();
}

// Waits `join_timeout` for a head from now; the epoch tells this wait from later ones.
void await_head(Self* self) {
  self->delayed_send(self, self->state.setup.join_timeout, join_deadline_atom::value, self->state.head_epoch);
}

caf::actor spawn_stage(Self* self, int32_t stage, caf::actor next) {
  auto& st = self->state;
  const std::shared_ptr<ModelBackend>& backend = st.setup.shards.at(stage);
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
  spdlog::info("node {}: stage {} executor started (layers [{}, {}))", st.setup.name, stage, backend->layers().begin,
               backend->layers().end);
  return executor;
}

}  // namespace

caf::behavior node_actor(Self* self, NodeSetup setup) {
  self->state.setup = std::move(setup);
  await_head(self);
  self->set_down_handler([=](const caf::down_msg& down) {
    auto& st = self->state;
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
        if (!st.setup.shards.count(stage))
          return refusal("node " + st.setup.name + " holds no shard of stage " + std::to_string(stage));
        if (auto old = st.stages.find(stage); old != st.stages.end()) {
          self->send_exit(old->second.executor, caf::exit_reason::user_shutdown);
          st.stages.erase(old);
        }
        if (next_host.empty()) return spawn_stage(self, stage, caf::actor{});
        if (next_host == st.setup.host && next_port == st.setup.port) {
          auto next = st.stages.find(stage + 1);
          if (next == st.stages.end()) return refusal("stage " + std::to_string(stage + 1) + " is not running here");
          return spawn_stage(self, stage, next->second.executor);
        }
        // Our own connection to the next stage's node (the middleman's asynchronous connect, so
        // this actor never blocks a scheduler thread): its stages' proxies then route directly.
        auto promise = self->make_response_promise<caf::actor>();
        const std::string where = next_host + ":" + std::to_string(next_port);
        self->request(self->system().middleman().actor_handle(), std::chrono::seconds(30), caf::connect_atom::value,
                      next_host, next_port)
            .then(
                [=](const caf::node_id&, caf::strong_actor_ptr& node, const std::set<std::string>&) mutable {
                  if (!node) {
                    promise.deliver(refusal("nothing is published at " + where));
                    return;
                  }
                  self->request(caf::actor_cast<caf::actor>(node), std::chrono::seconds(30), stage_of_atom::value, stage + 1)
                      .then(
                          [=](const caf::actor& next) mutable {
                            if (next) promise.deliver(spawn_stage(self, stage, next));
                            else promise.deliver(refusal("stage " + std::to_string(stage + 1) + " is not running"));
                          },
                          [=](caf::error& err) mutable { promise.deliver(std::move(err)); });
                },
                [=](caf::error& err) mutable {
                  promise.deliver(refusal("node " + self->state.setup.name + " cannot reach " + where + ": " +
                                          self->system().render(err)));
                });
        return promise;
      },
      [=](stage_of_atom, int32_t stage) {
        auto it = self->state.stages.find(stage);
        return it == self->state.stages.end() ? caf::actor{} : it->second.executor;
      },
      [=](heartbeat_atom) {
        NodeReport r{self->state.setup.name, {}};
        for (const auto& [stage, running] : self->state.stages)
          if (running.clock) r.stages.push_back(StageTimes{stage, running.clock->steps.load(), running.clock->busy_us.load()});
        return r;
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
