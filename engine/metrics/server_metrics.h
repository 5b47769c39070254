#pragma once
// ServerMetrics: the numbers `/metrics` exposes, with vLLM's names and meanings under `troupe:`
// (or `vllm:` with --metrics-prefix vllm, for dashboards that cannot be edited), every series
// labelled model_name as vLLM's are. Written by the gateway and scheduler actors as things happen,
// read by the HTTP layer; lock-free atomics, so writers never wait on a scrape.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace troupe {

// A Prometheus histogram: cumulative-on-read buckets with fixed upper bounds (seconds or tokens).
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // Appends `# TYPE` and the _bucket/_sum/_count lines for `name` (prefixed), each with `labels`
  // (`key="value"` pairs, comma-separated, without braces).
  void write(std::string& out, const std::string& name, const std::string& help, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::atomic<uint64_t>> counts_;  // [bounds + 1]: the last is +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0.0};
};

// What one data-parallel replica's scheduler and the gateway's router count for it.
struct ReplicaMetrics {
  std::atomic<int64_t> num_requests_running{0};
  std::atomic<int64_t> num_requests_waiting{0};
  std::atomic<int64_t> kv_blocks_used{0};
  std::atomic<int64_t> kv_blocks_total{0};
  std::atomic<uint64_t> prefix_cache_hit_tokens{0};
  std::atomic<uint64_t> prefix_cache_query_tokens{0};
  std::atomic<uint64_t> routed_requests{0};  // the router sent it (moves after a replica was lost included)
  std::atomic<uint64_t> recoveries{0};      // times its nodes were lost and it was relaunched
  std::atomic<bool> paused{false};          // recovering now: the router sends it nothing
  std::atomic<bool> gone{false};  // past a restart budget: its gauges read 0, whatever its stopped
                                  // scheduler wrote last (it may still be finishing a handler)
};

struct ServerMetrics {
  // One ReplicaMetrics per data-parallel replica. With more than one, the running and waiting
  // gauges and the prefix-cache counters are written once per replica, labelled replica="i"
  // (vLLM labels its engines likewise): a sum over the lines is the server's number, and no
  // unlabelled line would count it twice. routed_requests_total and router_fallbacks_total come too.
  explicit ServerMetrics(int32_t num_replicas = 1);
  ReplicaMetrics& replica(int32_t i) { return *replicas_.at(static_cast<size_t>(i)); }
  int32_t num_replicas() const { return static_cast<int32_t>(replicas_.size()); }
  // The server's gauges (running, waiting, KV blocks) as the sum of the replicas': a scheduler
  // calls it after writing its replica's, so a restarted replica's new numbers replace its old.
  void sum_replica_gauges();
  // Replica i is gone (past a restart budget): its gauges read 0 from now on.
  void mark_replica_gone(int32_t i);

  // Set once before serving starts, read by scrapes only.
  std::string prefix = "troupe";  // the series are prefix:name
  std::string model_name;         // the model_name label (the first served name); empty: no label

  // False once the engine will not come back: an executor or scheduler died with its restart
  // budget spent (a sticky CUDA error exhausts it too). /health then answers 503, so an
  // orchestrator restarts the process instead of sending it requests that can only fail.
  std::atomic<bool> engine_alive{true};
  // Gauges, set by the scheduler after every step.
  std::atomic<int64_t> num_requests_running{0};
  std::atomic<int64_t> num_requests_waiting{0};
  std::atomic<int64_t> kv_blocks_used{0};   // referenced by live sequences; cached-unreferenced count as free
  std::atomic<int64_t> kv_blocks_total{0};
  // Counters.
  std::atomic<uint64_t> prefix_cache_hit_tokens{0};
  std::atomic<uint64_t> prefix_cache_query_tokens{0};  // looked up (admissions' tokens); hits / this = hit rate
  std::atomic<uint64_t> preemptions{0};
  std::atomic<uint64_t> prompt_tokens{0};
  std::atomic<uint64_t> generation_tokens{0};
  std::atomic<uint64_t> requests_rejected{0};  // refused by admission control (429)
  std::array<std::atomic<uint64_t>, 3> requests_finished{};  // stop, length, abort
  std::atomic<uint64_t> router_fallbacks{0};   // the kv_manager did not answer the router in time:
                                               // the request went by least_loaded
  // Latencies, seconds.
  Histogram time_to_first_token;
  Histogram time_per_output_token;
  Histogram e2e_request_latency;
  Histogram request_queue_time;
  // Tokens.
  Histogram request_prompt_tokens;      // per finished request
  Histogram request_generation_tokens;  // per finished request
  Histogram iteration_tokens;           // computed per engine step (vLLM's iteration_tokens_total)

  // Supervised actors started again after dying, by kind ("executor", "scheduler",
  // "stage_executor") and node ("" in one process): troupe:actor_restarts_total{actor,node}.
  // Restarts are rare, so a mutex, unlike the counters above.
  void count_restart(const std::string& actor, const std::string& node);

  // The Prometheus text exposition format.
  std::string prometheus_text() const;

 private:
  mutable std::mutex restarts_mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> restarts_;  // (actor, node) -> count
  std::vector<std::unique_ptr<ReplicaMetrics>> replicas_;  // atomics do not move: one allocation each
};

}  // namespace troupe
