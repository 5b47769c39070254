#pragma once
// gateway: the client-facing side of the engine. It keeps every in-flight request with the tokens
// received for it, and when its supervisor names a new scheduler (the old one died) hands it each
// of them again, so clients see a pause, never a lost request or a token twice. It turns token
// ids into text incrementally (never a broken UTF-8 sequence), applies stop strings (never
// emitting text that may turn out to start one), and tells each request's RequestSink what
// happened, token by token, each with its share of the text and, when asked, its logprobs. The
// HTTP layer (net/) implements sinks; so can a test.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/troupe_error.h"
#include "engine/metrics/server_metrics.h"
#include "engine/output/stop_string_filter.h"
#include "engine/routing/replica_router.h"
#include "engine/sampling/logprobs.h"
#include "engine/scheduler/arrival_counter.h"
#include "engine/scheduler/generation_request.h"
#include "engine/scheduler/resubmission.h"
#include "engine/tokenizer/incremental_detokenizer.h"
#include "engine/tokenizer/tokenizer.h"

namespace troupe {

// Receives one request's results, on the gateway's thread, in order: any number of on_output,
// then exactly one of on_finish or on_error.
class RequestSink {
 public:
  virtual ~RequestSink() = default;
  // The next tokens of the output and their text: `text` is the concatenation of the tokens'
  // texts (the last call may add, with no token, what the detokenizer held at the end: an
  // unfinished character as U+FFFD). A token comes once no stop string can start in its text;
  // the token a stop string cuts comes with only the text before the stop, and none after it.
  // So the tokens a client sees are exactly those of the text it sees.
  virtual void on_output(const std::string& text, std::vector<GeneratedToken> tokens) = 0;
  // reason: "stop" (an EOS token), "stop_string" (a stop string matched), "length" (max_tokens)
  // or "abort". OpenAI reports both stops as "stop"; TGI tells them apart.
  virtual void on_finish(const std::string& reason, int32_t prompt_tokens, int32_t completion_tokens) = 0;
  // The request ends unanswered. `code` says why (net/error_status.h maps it to an HTTP status):
  // invalid_request (the scheduler refused it), engine_lost (the engine went away: a cluster node
  // lost, the scheduler's restart budget spent, or the scheduler could not be asked),
  // shutting_down (the server drains). `message` is the text for the client.
  virtual void on_error(troupe_error code, const std::string& message) = 0;
  // The request's first token came: it runs (before on_output, which a stop string may hold).
  virtual void on_running() {}
  // Once, when the request asked for prompt logprobs (SamplingParams::prompt_logprobs >= 0):
  // before its first on_output (or at its end, if no token came). logprobs[i] scores prompt[i];
  // logprobs[0] is empty (nothing predicts the first token), and so is any position the executor
  // did not score (one that cannot: the HTTP layer refuses the field for it).
  virtual void on_prompt_logprobs(const std::vector<int32_t>& /*prompt*/,
                                  std::vector<std::optional<PromptTokenLogprobs>> /*logprobs*/) {}
};

struct GatewayRequest {
  GenerationRequest generation;    // id: unique per gateway (the HTTP layer counts)
  std::vector<std::string> stop;   // stop strings, excluded from the text
  // vLLM's: special tokens left out of the text; the stop string, or the token that stopped
  // the sequence (EOS, stop_token_ids), kept in it (vLLM leaves that token's text out otherwise).
  bool skip_special_tokens = true;
  bool include_stop_str_in_output = false;
  std::shared_ptr<RequestSink> sink;
  std::chrono::steady_clock::time_point arrival = std::chrono::steady_clock::now();  // latencies count from here
};

struct GatewayOptions {
  std::shared_ptr<ServerMetrics> metrics;      // may be null
  std::chrono::seconds request_timeout{0};     // 0: none; past it a request ends with abort
  RoutingPolicy routing = RoutingPolicy::CacheAware;  // with several data-parallel replicas
  // How long cache_aware waits for the kv_manager's answer before routing least_loaded (counted in
  // ServerMetrics::router_fallbacks): the answer comes from the mirrors, a few microseconds when
  // the kv_manager keeps up, so a wait this long means it is gone or far behind.
  std::chrono::milliseconds routing_timeout{50};
};

struct GatewayState {
  struct Active {
    Active(std::shared_ptr<GatewayRequest> r, IncrementalDetokenizer d, uint64_t arrival)
        : request(std::move(r)),
          detokenizer(std::move(d)),
          output(request->stop, request->include_stop_str_in_output),
          in_flight{arrival, {}} {}
    std::shared_ptr<GatewayRequest> request;
    IncrementalDetokenizer detokenizer;
    StopStringFilter output;                 // the text not sent yet: a stop string may start in it
    // Its first arrival and every token received (held ones too): what a restarted scheduler is
    // handed, so it keeps its place and continues after those tokens, never sending them again.
    InFlight in_flight;
    int32_t replica = -1;                    // the data-parallel replica it runs on; -1 while routed
    // Asked for prompt logprobs and not handed to the sink yet: [prompt_len], filled by position as
    // steps score them (a prompt recomputed after a preemption is scored again, and overwrites).
    bool prompt_logprobs_due = false;
    std::vector<std::optional<PromptTokenLogprobs>> prompt_logprobs;
    bool abort_requested = false;  // the abort may have gone to a scheduler that died: not resubmitted
    std::chrono::steady_clock::time_point first_token_at{};
  };
  GatewayOptions options;
  std::shared_ptr<const Tokenizer> tokenizer;
  std::vector<caf::actor> schedulers;  // [replica]: its scheduler now; null once its supervisor
                                       // says none will come (past its restart budget)
  std::vector<bool> paused;    // [replica]: recovering (replica_paused_atom): routed around meanwhile
  caf::actor kv_manager;       // answers cache_aware's question (several replicas); may be null
  uint64_t route_cursor = 0;   // the router's turn-taking (pick_replica)
  std::string lost;            // why the engine is gone (engine_lost_atom); empty while it serves
  bool draining = false;       // shutting down: no new request, the live ones aborted
  ArrivalCounter arrivals;     // the gateway numbers arrivals, so a resubmission can keep its own
  std::unordered_map<SeqId, Active> active;
  static inline const char* name = "gateway";
};

// Messages: (submit_atom, shared_ptr<GatewayRequest>) from the HTTP layer (same process only);
// (abort_atom, SeqId) when a client hangs up; TokenDeltas and FinishedBatch from the schedulers
// (those of a replaced one, or from another replica than the sequence's, are stale and dropped);
// (scheduler_atom, replica, actor) from the supervisors it is registered with (spawn_gateway,
// engine_topology.h): that replica's scheduler from now on, to which the replica's in-flight
// requests are resubmitted, or a null one: its requests move to the other live replicas
// (recomputed there from the tokens already sent), and only with none left do they end with abort;
// (replica_paused_atom, replica, bool) from a cluster's supervisor while that replica recovers: new
// requests go to the others, and its requests move to them at once (aborted on it; recomputed
// there, as above) rather than wait seconds for its nodes; with every replica paused, requests
// wait on one of them;
// (engine_lost_atom, why) from the supervisor: every live request, and every later one, ends with
// on_error(engine_lost, why); (drain_atom) when the server shuts down: every live request is aborted (each ends with reason
// abort, so its client gets a complete answer) and new ones are refused.
//
// `schedulers`: replica i's at i (one for one engine). With several, each new request is routed by
// options.routing (engine/routing/replica_router.h): under cache_aware the gateway asks
// `kv_manager` one ReplicaCacheQuery (bounded by options.routing_timeout, least_loaded without an
// answer) and weighs the cached prefixes against its own in-flight count per replica.
caf::behavior gateway_actor(caf::stateful_actor<GatewayState>* self, std::shared_ptr<const Tokenizer> tokenizer,
                            std::vector<caf::actor> schedulers, caf::actor kv_manager, GatewayOptions options);

}  // namespace troupe

// A shared_ptr to a sink never leaves the process; CAF may pass it without serializing.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<troupe::GatewayRequest>)
