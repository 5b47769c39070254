// scheduler_overhead: what planning a step and moving it between actors costs, per step, with
// N long-running decodes (256 by default) and an executor that costs nothing (or a fixed,
// simulated time per step). Issue #5 asks for under 0.5 ms per step at 256 running sequences,
// hidden behind the GPU's work by planning step N+1 during step N.
//
// Two measurements of the same workload, each in lock step and planning ahead
// (SchedulerConfig::async_scheduling):
//  1. the Scheduler alone, fed fixed tokens: the time of each schedule() and update() call;
//  2. the real scheduler actor driving a fake executor actor (detached, as the real one is) that
//     answers each StepPlan with fixed tokens after busy-waiting --gpu-us: the step period (one
//     plan arrival to the next, at the executor) and the executor's idle time (its answer to the
//     next plan's arrival: how long a GPU would wait for the scheduler). In one process nothing is
//     serialized, so "the rest" (idle - schedule - update) is actor messaging, the fan-out of
//     tokens to the client, metrics and CAF waking the two actors' threads.
// Beside 1, the size of each measured plan as it would cross a node boundary (wire::encode, the
// Cap'n Proto message a remote executor or pipeline stage receives) and the time that encoding
// takes; neither is inside the schedule() time.
// Every token is 7 and every request ignores EOS, so no sequence ends during the measurement.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/all.hpp>

#include "actors/actor_system_config.h"
#include "actors/kv_manager_actor.h"
#include "actors/scheduler_actor.h"
#include "bench/loadgen/latency_stats.h"    // summarize: mean, p50, p99 as numpy computes them
#include "engine/kv/block_pool.h"           // BlockPool::blocks_for
#include "engine/metrics/server_metrics.h"  // the scheduler actor updates it, as in `troupe serve`
#include "engine/scheduler/scheduler.h"
#include "wire/wire_codec.h"                // wire::encode: a plan's bytes between nodes

namespace troupe {
namespace {

using Clock = std::chrono::steady_clock;
using loadgen::LatencySummary;
using loadgen::summarize;

constexpr int32_t kToken = 7;

struct Options {
  int32_t seqs = 256;        // running decodes
  int32_t prompt_len = 128;  // tokens per prompt (distinct prompts: no prefix-cache sharing)
  int32_t steps = 2000;      // measured all-decode steps
  int32_t warmup = 200;      // all-decode steps before measuring
  int32_t gpu_us = 0;        // simulated executor time per step
  bool kv_manager = false;   // the pool journals every change, and a kv_manager actor replays one
                             // journal per step (as under the supervisor)
};

double us_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

SchedulerConfig bench_config(const Options& o, bool ahead) {
  SchedulerConfig c;
  c.max_num_seqs = o.seqs;
  c.max_num_batched_tokens = std::max(2048, o.seqs);
  c.block_size = 16;
  // Room for every sequence to grow through the whole run: nothing is preempted.
  const int32_t longest = o.prompt_len + o.warmup + o.steps + 64;
  c.num_blocks = o.seqs * BlockPool::blocks_for(longest, c.block_size) + 16;
  c.enable_prefix_caching = true;
  c.async_scheduling = ahead;
  return c;
}

std::vector<GenerationRequest> bench_requests(const Options& o) {
  std::vector<GenerationRequest> out;
  for (int32_t i = 0; i < o.seqs; ++i) {
    GenerationRequest r;
    r.id = static_cast<SeqId>(i + 1);
    for (int32_t t = 0; t < o.prompt_len; ++t) r.prompt_token_ids.push_back(1000 + i * o.prompt_len + t);
    r.sampling_params.temperature = 0.0f;
    r.sampling_params.ignore_eos = true;
    r.sampling_params.max_tokens = o.warmup + o.steps + 32;
    out.push_back(std::move(r));
  }
  return out;
}

// A plan of nothing but one decode for each of the N sequences: the state being measured.
bool steady(const StepPlan& plan, const Options& o) {
  return static_cast<int32_t>(plan.sequences.size()) == o.seqs && plan.num_batched_tokens == o.seqs;
}

struct CallTimes {
  std::vector<double> schedule_us;
  std::vector<double> update_us;
  std::vector<double> plan_bytes;  // wire::encode(plan).size() of each measured plan
  std::vector<double> encode_us;   // the time of that encode
};

// 1. The Scheduler alone, as the actor drives it: as many plans outstanding as it allows, the
// oldest answered with fixed tokens.
CallTimes time_scheduler(const Options& o, bool ahead) {
  Scheduler sched(bench_config(o, ahead));
  if (o.kv_manager) sched.start_pool_journal();
  for (GenerationRequest& r : bench_requests(o)) sched.add_request(std::move(r));
  CallTimes t;
  std::deque<std::pair<StepPlan, bool>> outstanding;  // plan, counted
  std::vector<int32_t> sampled;
  std::vector<SampledToken> accepted;
  int32_t num_steady = 0;
  while (static_cast<int32_t>(t.update_us.size()) < o.steps) {
    while (sched.num_outstanding_plans() < sched.max_outstanding_plans()) {
      const auto t0 = Clock::now();
      StepPlan plan = sched.schedule();
      const auto t1 = Clock::now();
      const bool counted = steady(plan, o) && num_steady++ >= o.warmup;
      if (counted && static_cast<int32_t>(t.schedule_us.size()) < o.steps) {
        t.schedule_us.push_back(us_between(t0, t1));
        const auto t4 = Clock::now();
        const size_t bytes = wire::encode(plan).size();
        t.encode_us.push_back(us_between(t4, Clock::now()));
        t.plan_bytes.push_back(static_cast<double>(bytes));
      }
      outstanding.emplace_back(std::move(plan), counted);
    }
    const auto& [plan, counted] = outstanding.front();
    sampled.assign(static_cast<size_t>(plan.num_logits()), kToken);
    accepted.clear();
    const auto t2 = Clock::now();
    sched.update(plan, sampled, &accepted);
    if (o.kv_manager) sched.take_pool_journal();  // the actor takes it right after update()
    const auto t3 = Clock::now();
    if (counted) t.update_us.push_back(us_between(t2, t3));
    outstanding.pop_front();
  }
  return t;
}

// 2. The actors. The fake executor's clock is written on its own thread only, and read once it
// has signalled that it is done.
struct ExecutorClock {
  std::vector<Clock::time_point> arrive;  // steady plans, in order
  std::vector<Clock::time_point> reply;
  int32_t wanted = 0;
  std::promise<void> done;
};

caf::behavior fake_executor(caf::event_based_actor*, std::shared_ptr<ExecutorClock> clock, Options o) {
  return {
      [](init_atom, const KvPoolShape&) { return true; },
      [=](step_atom, const StepPlan& plan) {
        const auto arrive = Clock::now();
        const bool record = steady(plan, o) && static_cast<int32_t>(clock->arrive.size()) < clock->wanted;
        while (us_between(arrive, Clock::now()) < o.gpu_us) {
        }  // the GPU's share of the step
        StepResult r{plan.step_id, std::vector<int32_t>(static_cast<size_t>(plan.num_logits()), kToken), {}, {}};
        if (record) {
          clock->arrive.push_back(arrive);
          clock->reply.push_back(Clock::now());
          if (static_cast<int32_t>(clock->arrive.size()) == clock->wanted) clock->done.set_value();
        }
        return r;
      },
  };
}

// Submits every request and drops what comes back, as a gateway would forward it.
caf::behavior sink_client(caf::event_based_actor* self, caf::actor scheduler, std::vector<GenerationRequest> requests) {
  for (GenerationRequest& r : requests)
    self->request(scheduler, caf::infinite, submit_atom::value, std::move(r)).then([](bool) {});
  return {
      [](const TokenDeltas&) {},
      [](const FinishedBatch&) {},
  };
}

struct ActorTimes {
  std::vector<double> period_us;  // plan arrival to the next plan's arrival, at the executor
  std::vector<double> idle_us;    // executor's answer to the next plan's arrival
};

ActorTimes time_actors(const Options& o, bool ahead) {
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  auto clock = std::make_shared<ExecutorClock>();
  clock->wanted = o.warmup + o.steps + 1;
  auto done = clock->done.get_future();
  auto executor = sys.spawn<caf::detached>(fake_executor, clock, o);
  auto scheduler = sys.spawn(scheduler_actor, bench_config(o, ahead), executor, false, std::make_shared<ServerMetrics>());
  caf::actor kv = o.kv_manager ? sys.spawn<caf::detached>(kv_manager_actor) : caf::actor{};
  if (kv) caf::anon_send(scheduler, kv_manager_atom::value, kv);  // ahead of the client's requests
  auto client = sys.spawn(sink_client, scheduler, bench_requests(o));
  if (done.wait_for(std::chrono::minutes(5)) != std::future_status::ready) {
    std::fprintf(stderr, "scheduler_overhead: the actors made no progress for 5 minutes\n");
    std::exit(1);
  }
  for (const caf::actor& a : {client, scheduler, executor}) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  if (kv) caf::anon_send_exit(kv, caf::exit_reason::user_shutdown);
  ActorTimes t;
  for (size_t k = static_cast<size_t>(o.warmup); k + 1 < clock->arrive.size(); ++k) {
    t.period_us.push_back(us_between(clock->arrive[k], clock->arrive[k + 1]));
    t.idle_us.push_back(us_between(clock->reply[k], clock->arrive[k + 1]));
  }
  return t;
}

void print_row(const char* what, const LatencySummary& s) {
  std::printf("  %-34s %9.1f %9.1f %9.1f\n", what, s.mean, s.median, s.p99);
}

void report(const Options& o, bool ahead) {
  const CallTimes calls = time_scheduler(o, ahead);
  const ActorTimes actors = time_actors(o, ahead);
  const LatencySummary sched = summarize(calls.schedule_us);
  const LatencySummary upd = summarize(calls.update_us);
  const LatencySummary period = summarize(actors.period_us);
  const LatencySummary idle = summarize(actors.idle_us);
  std::printf("%s\n", ahead ? "planning ahead (async_scheduling: two plans in flight)" : "lock step (async_scheduling off)");
  std::printf("  %-34s %9s %9s %9s   (microseconds)\n", "", "mean", "p50", "p99");
  print_row("Scheduler::schedule()", sched);
  print_row("Scheduler::update()", upd);
  print_row("step period through the actors", period);
  print_row("executor idle per step", idle);
  print_row("wire::encode(StepPlan)", summarize(calls.encode_us));
  const LatencySummary bytes = summarize(calls.plan_bytes);
  std::printf("  %-34s %9.0f %9.0f %9.0f   (bytes)\n", "StepPlan on the wire", bytes.mean, bytes.median, bytes.p99);
  // What the executor waits for beyond the two calls: messaging, fan-out, metrics, wake-ups.
  // Planning ahead with an executor slower than the scheduler, there is no such wait.
  const double rest = idle.mean - sched.mean - upd.mean;
  if (rest > 0)
    std::printf("  %-34s %9.1f\n", "rest = idle - schedule - update", rest);
  else
    std::printf("  %-34s %9s\n", "rest = idle - schedule - update", "hidden");
}

}  // namespace
}  // namespace troupe

int main(int argc, char** argv) {
  troupe::Options o;
  std::string mode = "both";
  CLI::App app{"Scheduler + actor messaging time per step with N running decodes and an instant (or simulated) executor"};
  app.add_option("--seqs", o.seqs, "running decodes")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--prompt-len", o.prompt_len, "prompt tokens per sequence")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--steps", o.steps, "measured steps")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup, "all-decode steps before measuring")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--gpu-us", o.gpu_us, "simulated executor time per step (busy wait)")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_flag("--kv-manager", o.kv_manager, "journal the pool and replay it in a kv_manager actor");
  app.add_option("--mode", mode, "lockstep, ahead or both")->capture_default_str()->check(CLI::IsMember({"lockstep", "ahead", "both"}));
  CLI11_PARSE(app, argc, argv);
  std::printf("scheduler_overhead: %d running decodes, %d-token prompts, %d steps after %d warm-up, "
              "executor %d us per step%s\n",
              o.seqs, o.prompt_len, o.steps, o.warmup, o.gpu_us, o.kv_manager ? ", with the kv_manager" : "");
  if (mode != "ahead") troupe::report(o, /*ahead=*/false);
  if (mode != "lockstep") troupe::report(o, /*ahead=*/true);
  return 0;
}
