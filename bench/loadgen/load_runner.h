#pragma once
// LoadRunner: sends a planned set of requests to a server and collects their records, all on one
// thread's io_context (one connection per request in flight; a benchmark client spends its time
// waiting, not computing). Two ways to pace the load:
// - closed loop: `concurrency` requests in flight, the next sent when one ends;
// - open loop: Poisson arrivals at `request_rate` per second (seeded), however many are in flight,
//   or with `concurrency` too at most that many (vLLM's --request-rate with --max-concurrency: an
//   arrival waits for room, and its clock starts when it is sent).
// Warm-up requests run first (closed loop, up to `concurrency` or all at once) and are not counted;
// if every one of them fails the measured phase is skipped, since the server is not answering.
// Ctrl-C (with stop_on_sigint) stops sending, cancels what is in flight, and returns what ended.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/loadgen/http_target.h"
#include "bench/loadgen/request_record.h"

namespace troupe::loadgen {

struct PlannedBody {
  std::string body;  // the JSON sent
  int32_t prompt_tokens = 0;
};

struct LoadRunnerOptions {
  HttpTarget target;
  std::string path = "/v1/completions";
  size_t concurrency = 0;                 // > 0: at most this many in flight (closed loop when the rate is inf)
  double request_rate = INFINITY;         // open loop (Poisson) unless inf; inf sends all at once
  uint64_t seed = 0;                      // arrival times
  std::chrono::milliseconds request_timeout{600'000};
  bool show_progress = false;
  bool stop_on_sigint = false;
};

struct LoadResult {
  std::vector<RequestRecord> records;  // measured requests that ended, in order of ending (Ctrl-C's
                                       // cancelled ones included, flagged)
  double duration_s = 0;               // first measured send -> last measured end (or Ctrl-C)
  size_t warmup_total = 0;
  size_t warmup_failed = 0;
  std::string warmup_error;            // the first warm-up failure
  bool skipped = false;                // every warm-up request failed: nothing was measured
  bool interrupted = false;            // Ctrl-C
};

// Runs everything on the calling thread; returns when all requests ended. Throws
// std::runtime_error if the host does not resolve.
LoadResult run_load(const LoadRunnerOptions& options, std::vector<PlannedBody> warmup,
                    std::vector<PlannedBody> measured);

}  // namespace troupe::loadgen
