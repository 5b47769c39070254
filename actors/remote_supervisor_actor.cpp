#include "actors/remote_supervisor_actor.h"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/executor_capabilities.h"
#include "actors/message_inspect.h"

namespace troupe {
namespace {

using Self = caf::stateful_actor<RemoteSupervisorState>;
constexpr std::chrono::milliseconds kRetryEvery{250};

void give_up(Self* self, const std::string& why) {
  spdlog::error("executor at {}:{}: {}; live requests end with abort", self->state.host, self->state.port, why);
  self->state.executor = caf::actor{};
  self->state.gave_up = true;
  hand_executor(self, self->state.scheduling, caf::actor{});
}

// A reconnected executor takes the lost one's place once it has said it does what the first did.
void take_back(Self* self, const caf::actor& executor, const BackendCapabilities& now) {
  auto& s = self->state;
  if (s.executor != executor) return;  // lost again meanwhile: the down handler has it
  if (const std::string lost = capabilities_lost(s.capabilities, now); !lost.empty())
    return give_up(self, "came back without " + lost + ", which this server opened to requests (restart serve to "
                         "serve what this executor does)");
  spdlog::warn("executor at {}:{} is back ({} of {} restarts); running sequences are recomputed", s.host, s.port,
               s.losses, s.scheduling.max_restarts);
  hand_executor(self, s.scheduling, s.executor);
}

}  // namespace

caf::behavior remote_supervisor_actor(Self* self, caf::actor executor, std::string host, uint16_t port,
                                      SchedulerConfig config, int32_t max_restarts,
                                      std::chrono::milliseconds reconnect_window,
                                      std::shared_ptr<ServerMetrics> metrics) {
  auto& st = self->state;
  st.host = std::move(host);
  st.port = port;
  st.executor = executor;
  self->monitor(executor);
  st.scheduling.config = config;
  st.scheduling.metrics = std::move(metrics);
  st.scheduling.max_restarts = max_restarts;
  start_scheduler(self, st.scheduling, executor);
  self->set_exit_handler([=](const caf::exit_msg& exit) {
    if (self->state.scheduling.scheduler) self->send_exit(self->state.scheduling.scheduler, exit.reason);
    self->quit(exit.reason);
  });
  self->set_down_handler([=](const caf::down_msg& down) {
    auto& s = self->state;
    if (on_scheduler_down(self, s.scheduling, down, s.executor, /*executor_may_come=*/!s.gave_up)) return;
    if (!s.executor || down.source != s.executor.address()) return;
    spdlog::error("executor at {}:{} lost: {}", s.host, s.port, self->system().render(down.reason));
    if (s.losses >= max_restarts) return give_up(self, "restart budget (" + std::to_string(max_restarts) + ") spent");
    ++s.losses;
    s.executor = caf::actor{};
    s.lost_at = std::chrono::steady_clock::now();
    self->send(self, reconnect_atom::value);
  });
  return {
      // What the gateway opened to requests by the first executor's answer (serve sends it once it
      // asked): an executor that comes back after a loss is held to it. No such message (generate,
      // an older executor): nothing to hold it to. A message, not a request with a timeout of its
      // own: a request still pending when the process ends kept this detached actor alive, and
      // CAF 0.17's actor_system destructor waited for it (once, under load, for minutes).
      [=](capabilities_atom, const BackendCapabilities& opened) { self->state.capabilities = opened; },
      [=](reconnect_atom) {
        auto& s = self->state;
        auto proxy = self->system().middleman().remote_actor(s.host, s.port);
        if (proxy) {
          s.executor = *proxy;
          self->monitor(s.executor);
          const caf::actor executor = s.executor;
          self->request(executor, kCapabilitiesWithin, capabilities_atom::value)
              .then([=](const BackendCapabilities& c) { take_back(self, executor, c); },
                    [=](caf::error& e) {
                      auto& s = self->state;
                      if (s.executor != executor) return;
                      // An older build does not know the question: it does nothing it could name.
                      if (e == caf::sec::unexpected_message) return take_back(self, executor, BackendCapabilities{});
                      // Lost again, or silent: connect and ask again until the window closes.
                      if (std::chrono::steady_clock::now() - s.lost_at >= reconnect_window)
                        return give_up(self, "did not say what its backend does: " + self->system().render(e));
                      self->demonitor(executor);
                      s.executor = caf::actor{};
                      self->delayed_send(self, kRetryEvery, reconnect_atom::value);
                    });
          return;
        }
        if (std::chrono::steady_clock::now() - s.lost_at >= reconnect_window)
          return give_up(self, "no node answered within " + std::to_string(reconnect_window.count()) + " ms");
        self->delayed_send(self, kRetryEvery, reconnect_atom::value);
      },
      [=](engine_atom) { return caf::make_message(self->state.scheduling.scheduler, self->state.executor); },
      [=](gateway_atom, caf::actor gateway) { add_gateway(self, self->state.scheduling, std::move(gateway)); },
  };
}

}  // namespace troupe
