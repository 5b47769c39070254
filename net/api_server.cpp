#include "net/api_server.h"

#include <functional>
#include <string>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/message_inspect.h"

namespace troupe::net {
namespace {

using Clock = std::chrono::steady_clock;

// Polls `done` until it holds or `limit` passes (or `cut` turns true); logs what it waits for
// every 5 s. True when done.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit, const std::atomic<bool>* cut,
                const std::function<std::string()>& waiting_for) {
  const auto start = Clock::now();
  auto next_log = start + std::chrono::seconds(5);
  while (!done()) {
    const auto now = Clock::now();
    if (now - start >= limit || (cut && cut->load())) return false;
    if (now >= next_log) {
      spdlog::info("shutdown: waiting for {} ({:.0f} s of {} s)", waiting_for(),
                   std::chrono::duration<double>(now - start).count(),
                   std::chrono::duration_cast<std::chrono::seconds>(limit).count());
      next_log += std::chrono::seconds(5);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace

ApiServer::ApiServer(caf::actor_system& sys, std::shared_ptr<ApiContext> context, ApiServerOptions options)
    : sys_(sys), ctx_(std::move(context)), options_(std::move(options)) {
  http_ = std::make_unique<HttpServer>(io_, options_.http, make_api_handler(ctx_));
  http_->start();
  for (int i = 0; i < std::max(1, options_.threads); ++i) threads_.emplace_back([this] { io_.run(); });
}

ApiServer::~ApiServer() {
  if (!stopped_) shutdown();
}

void ApiServer::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  ctx_->draining.store(true);
  http_->drain();
  auto busy = [this] { return http_->busy_connections(); };
  auto describe = [&] { return std::to_string(busy()) + " request(s) in flight"; };
  const bool finished = wait_until([&] { return busy() == 0; }, options_.shutdown_timeout, &hurry_, describe);
  if (!finished) {
    spdlog::warn("shutdown: {} request(s) still running after {} s (--shutdown-timeout); ending them with "
                 "finish reason abort", busy(), options_.shutdown_timeout.count());
    caf::anon_send(ctx_->gateway, drain_atom::value);
    if (!wait_until([&] { return busy() == 0; }, std::chrono::seconds(10), nullptr, describe))
      spdlog::error("shutdown: {} answer(s) not written after 10 s; closing their connections", busy());
  }
  http_->close_all();
  wait_until([this] { return http_->open_connections() == 0; }, std::chrono::seconds(2), nullptr,
             [this] { return std::to_string(http_->open_connections()) + " connection(s) to close"; });
  // The gateway holds the sinks (and through them the responders): it must be gone, its state
  // released on its own thread, before the I/O objects are.
  {
    caf::scoped_actor self{sys_};
    self->monitor(ctx_->gateway);
    self->send_exit(ctx_->gateway, caf::exit_reason::user_shutdown);
    self->receive([](const caf::down_msg&) {},
                  caf::after(std::chrono::seconds(10)) >> [] { spdlog::error("shutdown: the gateway did not stop in 10 s"); });
  }
  io_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  http_.reset();
}

}  // namespace troupe::net
