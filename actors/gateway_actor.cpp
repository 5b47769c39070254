#include "actors/gateway_actor.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include <caf/all.hpp>

#include "actors/message_inspect.h"
#include "actors/troupe_error.h"

namespace troupe {
namespace {

using Self = caf::stateful_actor<GatewayState>;

// Hands the sink what the stop-string filter let out, if anything.
void send(GatewayState::Active& a, StopStringFilter::Release r) {
  if (!r.empty()) a.request->sink->on_output(r.text, std::move(r.tokens));
}

// Hands the sink the request's prompt logprobs, once: all of them have come by its first token
// (the step that samples it scores the prompt's last chunk, and the scores ride ahead of the token).
void send_prompt_logprobs(GatewayState::Active& a) {
  if (!std::exchange(a.prompt_logprobs_due, false)) return;
  a.request->sink->on_prompt_logprobs(a.request->generation.prompt_token_ids, std::move(a.prompt_logprobs));
}

void finish(Self* self, SeqId id, const std::string& reason) {
  auto it = self->state.active.find(id);
  if (it == self->state.active.end()) return;
  GatewayState::Active& a = it->second;
  send_prompt_logprobs(a);
  send(a, a.output.finish(a.detokenizer.flush()));
  // Metrics first: a client that reads /metrics right after its answer must see its request.
  if (ServerMetrics* m = self->state.options.metrics.get()) {
    const auto now = std::chrono::steady_clock::now();
    m->e2e_request_latency.observe(std::chrono::duration<double>(now - a.request->arrival).count());
    const auto completion_tokens = static_cast<double>(a.in_flight.output_token_ids.size());
    if (completion_tokens > 1)
      m->time_per_output_token.observe(std::chrono::duration<double>(now - a.first_token_at).count() /
                                       (completion_tokens - 1));
    m->requests_finished[reason == "stop" || reason == "stop_string" ? 0 : reason == "length" ? 1 : 2].fetch_add(1);
    m->request_prompt_tokens.observe(static_cast<double>(a.request->generation.prompt_token_ids.size()));
    m->request_generation_tokens.observe(completion_tokens);
  }
  a.request->sink->on_finish(reason, static_cast<int32_t>(a.request->generation.prompt_token_ids.size()),
                             static_cast<int32_t>(a.in_flight.output_token_ids.size()));
  self->state.active.erase(it);
}

// Hands the current scheduler request `id` as it stands (InFlight::resubmission): its prompt and
// parameters, its first arrival and the tokens received so far.
void submit(Self* self, SeqId id) {
  auto& st = self->state;
  const GatewayState::Active& a = st.active.at(id);
  self->request(st.schedulers.at(static_cast<size_t>(a.replica)), caf::infinite, submit_atom::value,
                a.in_flight.resubmission(a.request->generation))
      .then([](bool) {},
            [=](caf::error& err) {
              // The scheduler died before it answered: the request stays, and the supervisor's
              // next scheduler gets it (scheduler_atom). A troupe_error is a refusal, with its
              // code; any other (CAF's own) means the scheduler could not be asked.
              if (err == caf::sec::request_receiver_down) return;
              auto it = self->state.active.find(id);
              if (it == self->state.active.end()) return;
              if (const auto code = troupe_error_code(err))
                it->second.request->sink->on_error(*code, error_message(err));
              else
                it->second.request->sink->on_error(troupe_error::engine_lost, self->system().render(err));
              self->state.active.erase(it);
            });
}

// The scheduler request `a` runs on now (null while it is routed, or when its replica is gone).
caf::actor scheduler_of(const GatewayState& st, const GatewayState::Active& a) {
  return a.replica >= 0 ? st.schedulers[static_cast<size_t>(a.replica)] : caf::actor{};
}

bool any_live(const GatewayState& st) {
  return std::any_of(st.schedulers.begin(), st.schedulers.end(), [](const caf::actor& s) { return bool(s); });
}

// What the router knows without asking: which replicas live and the gateway's own requests on
// each (running or waiting there: the gateway holds every request until it finishes).
std::vector<ReplicaLoad> replica_loads(const GatewayState& st) {
  std::vector<ReplicaLoad> loads(st.schedulers.size());
  for (size_t i = 0; i < loads.size(); ++i) {
    loads[i].live = bool(st.schedulers[i]);
    loads[i].paused = st.paused[i];
  }
  for (const auto& [id, a] : st.active)
    if (a.replica >= 0) ++loads[static_cast<size_t>(a.replica)].in_flight;
  return loads;
}

// Runs request `id` on replica r (-1: none is live) unless it ended while it was routed.
void place(Self* self, SeqId id, int32_t r) {
  auto& st = self->state;
  auto it = st.active.find(id);
  if (it == st.active.end()) return;
  if (r < 0 || it->second.abort_requested) return finish(self, id, "abort");
  it->second.replica = r;
  if (ServerMetrics* m = st.options.metrics.get(); m && r < m->num_replicas()) m->replica(r).routed_requests.fetch_add(1);
  submit(self, id);
}

// Picks request `id` a replica and submits it there. One replica: that one. cache_aware asks the
// kv_manager once, from its mirrors (never a scheduler: no step waits for this), and routes
// least_loaded when no answer comes within routing_timeout (the kv_manager is gone or behind).
void route(Self* self, SeqId id) {
  auto& st = self->state;
  GatewayState::Active& a = st.active.at(id);
  a.replica = -1;
  if (st.schedulers.size() == 1) return place(self, id, st.schedulers[0] ? 0 : -1);
  const RoutingPolicy policy = st.options.routing;
  if (policy != RoutingPolicy::CacheAware || !st.kv_manager)
    return place(self, id, pick_replica(policy, replica_loads(st), st.route_cursor));
  // A moved request is recomputed with the tokens it has: those count as its prefix too.
  ReplicaCacheQuery q{a.request->generation.prompt_token_ids};
  q.token_ids.insert(q.token_ids.end(), a.in_flight.output_token_ids.begin(), a.in_flight.output_token_ids.end());
  self->request(st.kv_manager, st.options.routing_timeout, std::move(q))
      .then(
          [=](const ReplicaCacheReport& report) {
            auto& s = self->state;
            std::vector<ReplicaLoad> loads = replica_loads(s);
            for (size_t i = 0; i < loads.size() && i < report.cached_tokens.size(); ++i) {
              loads[i].cached_tokens = report.cached_tokens[i];
              loads[i].free_blocks = report.free_blocks[i];
            }
            place(self, id, pick_replica(RoutingPolicy::CacheAware, loads, s.route_cursor));
          },
          [=](caf::error&) {
            auto& s = self->state;
            if (ServerMetrics* m = s.options.metrics.get()) m->router_fallbacks.fetch_add(1);
            place(self, id, pick_replica(RoutingPolicy::LeastLoaded, replica_loads(s), s.route_cursor));
          });
}

// Request `id`'s replica has a new scheduler, or none will come: hand the request over again (to
// the new one; or, moved, to another live replica, which recomputes the tokens sent so far), unless it
// is over already (an abort that went to the dead one, a last token streamed just before it died)
// or no replica is left.
void resubmit(Self* self, SeqId id) {
  auto& st = self->state;
  const GatewayState::Active& a = st.active.at(id);
  if (a.abort_requested) return finish(self, id, "abort");
  if (const auto done = a.in_flight.finished_by_output(a.request->generation))
    return finish(self, id, sequence_finish_reason_name(*done));
  if (scheduler_of(st, a)) return submit(self, id);
  route(self, id);
}

// Replica r is paused: its requests move to the replicas serving meanwhile. The abort frees each
// one's blocks there (its results are dropped from now on: the request's replica is another);
// moved, the request is recomputed from the tokens already sent, as after a loss. With no replica
// serving they stay, and go on where they are once it is back.
void move_off(Self* self, int32_t r) {
  auto& st = self->state;
  std::vector<ReplicaLoad> loads = replica_loads(st);
  if (std::none_of(loads.begin(), loads.end(), [](const ReplicaLoad& l) { return l.live && !l.paused; })) return;
  std::vector<std::pair<uint64_t, SeqId>> moving;  // (arrival, id): handed over in arrival order
  for (const auto& [id, a] : st.active)
    if (a.replica == r && !a.abort_requested) moving.emplace_back(a.in_flight.arrival, id);
  std::sort(moving.begin(), moving.end());
  for (const auto& [arrival, id] : moving) {
    if (const caf::actor s = st.schedulers[static_cast<size_t>(r)]) self->send(s, abort_atom::value, id);
    st.active.at(id).replica = -1;
    resubmit(self, id);
  }
}

// The replica whose current scheduler sent the message being handled; -1 for any other sender
// (a replaced scheduler's results are stale: the new one sends what follows the tokens it was handed).
int32_t sender_replica(Self* self) {
  const auto& schedulers = self->state.schedulers;
  for (size_t i = 0; i < schedulers.size(); ++i)
    if (schedulers[i] && self->current_sender() == caf::actor_cast<caf::strong_actor_ptr>(schedulers[i]))
      return static_cast<int32_t>(i);
  return -1;
}

}  // namespace

caf::behavior gateway_actor(Self* self, std::shared_ptr<const Tokenizer> tokenizer, std::vector<caf::actor> schedulers,
                            caf::actor kv_manager, GatewayOptions options) {
  self->state.tokenizer = std::move(tokenizer);
  self->state.schedulers = std::move(schedulers);
  if (self->state.schedulers.empty()) self->state.schedulers.emplace_back();
  self->state.paused.assign(self->state.schedulers.size(), false);
  self->state.kv_manager = std::move(kv_manager);
  self->state.options = std::move(options);
  return {
      [=](submit_atom, std::shared_ptr<GatewayRequest> req) {
        const SeqId id = req->generation.id;
        auto& st = self->state;
        if (!st.lost.empty()) return req->sink->on_error(troupe_error::engine_lost, st.lost);
        if (!any_live(st))
          return req->sink->on_error(troupe_error::engine_lost, "the engine has stopped: its scheduler's restart budget is spent");
        if (st.draining) return req->sink->on_error(troupe_error::shutting_down, "the server is shutting down");
        const uint64_t arrival = st.arrivals.number(req->generation.arrival);
        auto [entry, _] = st.active.try_emplace(id, req, IncrementalDetokenizer(*st.tokenizer, req->skip_special_tokens), arrival);
        if (req->generation.sampling_params.prompt_logprobs >= 0) {
          entry->second.prompt_logprobs_due = true;
          entry->second.prompt_logprobs.resize(req->generation.prompt_token_ids.size());
        }
        if (st.options.request_timeout.count() > 0)
          self->delayed_send(self, st.options.request_timeout, abort_atom::value, id);
        route(self, id);
      },
      [=](abort_atom, SeqId id) {
        // The client is gone or the request timed out: free the sequence's blocks now. The
        // scheduler's FinishedBatch (reason abort) ends the request here; one still being routed
        // ends when its route comes back.
        auto it = self->state.active.find(id);
        if (it == self->state.active.end()) return;
        it->second.abort_requested = true;
        if (const caf::actor s = scheduler_of(self->state, it->second)) self->send(s, abort_atom::value, id);
      },
      [=](drain_atom) {
        auto& st = self->state;
        st.draining = true;
        std::vector<std::pair<SeqId, caf::actor>> ids;
        for (auto& [id, a] : st.active) {
          a.abort_requested = true;
          if (a.replica >= 0) ids.emplace_back(id, scheduler_of(st, a));
        }
        // With a scheduler, its FinishedBatch ends each one (the blocks are freed first); without
        // one, nothing else will.
        for (const auto& [id, s] : ids)
          if (s) self->send(s, abort_atom::value, id);
          else finish(self, id, "abort");
      },
      [=](engine_lost_atom, const std::string& why) {
        auto& st = self->state;
        st.lost = why;
        for (caf::actor& s : st.schedulers) s = caf::actor{};
        for (auto& [id, a] : st.active) {
          if (ServerMetrics* m = st.options.metrics.get()) m->requests_finished[2].fetch_add(1);
          a.request->sink->on_error(troupe_error::engine_lost, why);
        }
        st.active.clear();
      },
      [=](scheduler_atom, int32_t replica, caf::actor scheduler) {
        auto& st = self->state;
        if (replica < 0 || static_cast<size_t>(replica) >= st.schedulers.size()) return;
        if (scheduler == st.schedulers[static_cast<size_t>(replica)]) return;  // the one it has (told on registration)
        st.schedulers[static_cast<size_t>(replica)] = std::move(scheduler);
        // The last replica gone: /health answers 503 (a supervisor says so itself for one engine).
        if (ServerMetrics* m = st.options.metrics.get(); m && !any_live(st)) m->engine_alive = false;
        std::vector<SeqId> ids;
        for (const auto& [id, a] : st.active)
          if (a.replica == replica) ids.push_back(id);
        for (SeqId id : ids) resubmit(self, id);
      },
      [=](replica_paused_atom, int32_t replica, bool paused) {
        auto& st = self->state;
        if (replica < 0 || static_cast<size_t>(replica) >= st.paused.size()) return;
        st.paused[static_cast<size_t>(replica)] = paused;
        if (paused) move_off(self, replica);
      },
      [=](TokenDeltas& d) {
        const int32_t from = sender_replica(self);
        if (from < 0) return;
        for (size_t i = 0; i < d.prompt_seq_ids.size(); ++i) {
          auto it = self->state.active.find(d.prompt_seq_ids[i]);
          if (it == self->state.active.end() || it->second.replica != from || !it->second.prompt_logprobs_due) continue;
          auto& slots = it->second.prompt_logprobs;
          PromptLogprobs& p = d.prompt_logprobs[i];
          for (size_t k = 0; k < p.tokens.size(); ++k)
            if (const size_t pos = static_cast<size_t>(p.first_position) + k; pos < slots.size())
              slots[pos] = std::move(p.tokens[k]);
        }
        for (size_t i = 0; i < d.seq_ids.size(); ++i) {
          auto it = self->state.active.find(d.seq_ids[i]);
          if (it == self->state.active.end() || it->second.replica != from) continue;
          GatewayState::Active& a = it->second;
          std::vector<int32_t>& received = a.in_flight.output_token_ids;
          if (received.empty()) {
            a.first_token_at = std::chrono::steady_clock::now();
            a.request->sink->on_running();
            if (ServerMetrics* m = self->state.options.metrics.get()) {
              m->time_to_first_token.observe(std::chrono::duration<double>(a.first_token_at - a.request->arrival).count());
              m->prompt_tokens.fetch_add(a.request->generation.prompt_token_ids.size());
            }
            send_prompt_logprobs(a);
          }
          if (ServerMetrics* m = self->state.options.metrics.get()) m->generation_tokens.fetch_add(1);
          received.push_back(d.tokens[i]);
          // The token that stops the sequence (EOS, a stop id) adds no text unless asked, as in
          // vLLM: with skip_special_tokens off, an EOS is not text the model meant to say.
          const bool silent = !a.request->include_stop_str_in_output &&
                              a.in_flight.finished_by_output(a.request->generation) == SequenceFinishReason::Stop;
          GeneratedToken t{d.tokens[i], silent ? std::string() : a.detokenizer.push(d.tokens[i]), {}};
          if (!d.logprobs.empty()) t.logprobs = std::move(d.logprobs[i]);
          send(a, a.output.push(std::move(t)));
          if (a.output.stopped()) {
            self->send(self->state.schedulers[static_cast<size_t>(from)], abort_atom::value, d.seq_ids[i]);
            finish(self, d.seq_ids[i], "stop_string");
          }
        }
      },
      [=](const FinishedBatch& batch) {
        const int32_t from = sender_replica(self);
        if (from < 0) return;
        for (const FinishedSequence& f : batch.sequences) {
          auto it = self->state.active.find(f.id);
          if (it != self->state.active.end() && it->second.replica == from)
            finish(self, f.id, sequence_finish_reason_name(f.reason));
        }
      },
  };
}

}  // namespace troupe
