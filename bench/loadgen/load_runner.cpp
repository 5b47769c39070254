#include "bench/loadgen/load_runner.h"

#include <cmath>
#include <csignal>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "bench/loadgen/arrival_schedule.h"
#include "bench/loadgen/progress_bar.h"
#include "bench/loadgen/streaming_request.h"

namespace troupe::loadgen {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

// One phase (warm-up or measured): its requests and how far it got.
struct Phase {
  bool warmup = false;
  std::vector<PlannedBody> bodies;
  std::vector<double> offsets;  // [bodies.size()] seconds from start (open loop); empty: closed loop
  size_t cap = 0;               // the most in flight (open loop: bodies.size() unless capped)
  size_t arrived = 0;           // open loop: arrivals so far, sent or waiting for room under the cap
  size_t next = 0;              // the next one to send
  size_t ended = 0;             // ended for any reason, cancelled included
  size_t failed = 0;
  Clock::time_point start;
};

class Runner {
 public:
  Runner(const LoadRunnerOptions& o, std::vector<PlannedBody> warmup, std::vector<PlannedBody> measured)
      : o_(o), timer_(io_), signals_(io_), warmup_(std::move(warmup)), measured_(std::move(measured)) {}

  LoadResult run() {
    error_code ec;
    endpoints_ = asio::ip::tcp::resolver(io_).resolve(o_.target.host, o_.target.port, ec);
    if (ec) throw std::runtime_error("cannot resolve " + o_.target.host + ": " + ec.message());
    if (o_.stop_on_sigint) {
      signals_.add(SIGINT);
      signals_.async_wait([this](const error_code& ec, int) { if (!ec) stop(); });
    }
    result_.warmup_total = warmup_.size();
    if (!warmup_.empty()) start_phase(std::move(warmup_), true);
    else start_phase(std::move(measured_), false);
    io_.run();
    return std::move(result_);
  }

 private:
  void start_phase(std::vector<PlannedBody> bodies, bool warmup) {
    phase_ = Phase{};
    phase_.warmup = warmup;
    phase_.bodies = std::move(bodies);
    const size_t n = phase_.bodies.size();
    phase_.cap = o_.concurrency > 0 ? o_.concurrency : n;
    if (!warmup && (o_.concurrency == 0 || !std::isinf(o_.request_rate)))
      phase_.offsets = poisson_arrival_offsets(n, o_.request_rate, o_.seed);
    progress_.emplace(warmup ? "warm-up" : "requests", n, o_.show_progress);
    phase_.start = Clock::now();
    if (n == 0) return end_phase();
    if (phase_.offsets.empty()) fill_closed_loop();
    else send_due_arrivals();
  }

  void fill_closed_loop() {
    while (!stopping_ && in_flight_.size() < phase_.cap && phase_.next < phase_.bodies.size()) send(phase_.next++);
  }

  // vLLM's --request-rate with --max-concurrency: an arrival beyond the cap waits for a request to
  // end, and its clock starts when it is sent.
  void send_arrived() {
    while (!stopping_ && in_flight_.size() < phase_.cap && phase_.next < phase_.arrived) send(phase_.next++);
  }

  void send_due_arrivals() {
    const Clock::time_point now = Clock::now();
    while (phase_.arrived < phase_.bodies.size() && phase_.start + seconds(phase_.offsets[phase_.arrived]) <= now)
      ++phase_.arrived;
    send_arrived();
    if (phase_.arrived == phase_.bodies.size()) return;
    timer_.expires_at(phase_.start + seconds(phase_.offsets[phase_.arrived]));
    timer_.async_wait([this](const error_code& ec) { if (!ec && !stopping_) send_due_arrivals(); });
  }

  static Clock::duration seconds(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }

  void send(size_t i) {
    PlannedBody& b = phase_.bodies[i];
    StreamingRequestSpec spec{.target = &o_.target, .endpoints = endpoints_, .path = o_.target.path_of(o_.path),
                              .body = std::move(b.body), .prompt_tokens = b.prompt_tokens,
                              .timeout = o_.request_timeout};
    in_flight_[i] = StreamingRequest::start(io_, std::move(spec), [this, i](RequestRecord r) { on_end(i, std::move(r)); });
  }

  void on_end(size_t i, RequestRecord r) {
    in_flight_.erase(i);
    ++phase_.ended;
    if (!r.ok && !r.cancelled) {
      ++phase_.failed;
      if (phase_.warmup && result_.warmup_error.empty()) result_.warmup_error = r.error;
    }
    if (!phase_.warmup) result_.records.push_back(std::move(r));
    progress_->update(phase_.ended, phase_.failed);
    if (stopping_) {
      if (in_flight_.empty()) finish();
      return;
    }
    if (phase_.ended == phase_.bodies.size()) return end_phase();
    if (phase_.offsets.empty()) fill_closed_loop();
    else send_arrived();
  }

  void end_phase() {
    progress_->finish();
    if (!phase_.warmup) {
      result_.duration_s = std::chrono::duration<double>(Clock::now() - phase_.start).count();
      return finish();
    }
    result_.warmup_failed = phase_.failed;
    if (phase_.failed == phase_.bodies.size()) {
      result_.skipped = true;
      return finish();
    }
    start_phase(std::move(measured_), false);
  }

  // Ctrl-C: what ended so far is the result; the duration stops now.
  void stop() {
    if (stopping_ || finished_) return;
    stopping_ = true;
    result_.interrupted = true;
    if (!phase_.warmup) result_.duration_s = std::chrono::duration<double>(Clock::now() - phase_.start).count();
    else result_.skipped = true;
    timer_.cancel();
    if (in_flight_.empty()) return finish();
    const auto in_flight = in_flight_;  // cancel() reports later, from the io_context
    for (const auto& [i, request] : in_flight) request->cancel();
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    if (progress_) progress_->finish();
    timer_.cancel();
    error_code ignored;
    signals_.cancel(ignored);  // nothing is left waiting: io_.run() returns
  }

  const LoadRunnerOptions& o_;
  asio::io_context io_;
  asio::steady_timer timer_;
  asio::signal_set signals_;
  asio::ip::tcp::resolver::results_type endpoints_;
  std::vector<PlannedBody> warmup_;
  std::vector<PlannedBody> measured_;
  Phase phase_;
  std::optional<ProgressBar> progress_;
  std::map<size_t, std::shared_ptr<StreamingRequest>> in_flight_;
  LoadResult result_;
  bool stopping_ = false;
  bool finished_ = false;
};

}  // namespace

LoadResult run_load(const LoadRunnerOptions& options, std::vector<PlannedBody> warmup,
                    std::vector<PlannedBody> measured) {
  return Runner(options, std::move(warmup), std::move(measured)).run();
}

}  // namespace troupe::loadgen
