#include "actors/gateway_actor.h"

#include <algorithm>
#include <iterator>

#include <caf/all.hpp>

#include "actors/message_inspect.h"

namespace troupe {
namespace {

using Self = caf::stateful_actor<GatewayState>;

// Sends the held tokens whose text lies in the first n bytes of `a.pending`, and that text. With
// `cut` a stop string starts at n: the token it cuts goes too, shortened to what precedes it.
void release(GatewayState::Active& a, size_t n, bool cut) {
  size_t begin = 0;  // of held[k]'s text in pending
  size_t k = 0;
  for (; k < a.held.size(); ++k) {
    const size_t end = begin + a.held[k].text.size();
    if (cut ? begin >= n : end > n) break;
    if (end > n) a.held[k].text.resize(n - begin);
    begin = end;
  }
  // Text past the last token is only the detokenizer's final flush: it goes with the last call.
  const size_t sent = cut || k == a.held.size() ? n : begin;
  if (k == 0 && sent == 0) return;
  std::vector<GeneratedToken> out(std::make_move_iterator(a.held.begin()),
                                  std::make_move_iterator(a.held.begin() + static_cast<std::ptrdiff_t>(k)));
  a.held.erase(a.held.begin(), a.held.begin() + static_cast<std::ptrdiff_t>(k));
  const std::string text = a.pending.substr(0, sent);
  a.pending.erase(0, sent);
  a.request->sink->on_output(text, std::move(out));
}

// Emits what may be emitted of `a.pending`; true when a stop string ended the request.
bool emit(GatewayState::Active& a) {
  bool stopped = false;
  const size_t n = emittable_prefix(a.pending, a.request->stop, stopped);
  release(a, n, stopped);
  return stopped;
}

void finish(Self* self, SeqId id, const std::string& reason) {
  auto it = self->state.active.find(id);
  if (it == self->state.active.end()) return;
  GatewayState::Active& a = it->second;
  if (!a.stop_matched) {
    const std::string tail = a.detokenizer.flush();
    if (!a.held.empty()) a.held.back().text += tail;  // the held bytes came with the last tokens
    a.pending += tail;
    bool stopped = false;
    const size_t n = emittable_prefix(a.pending, a.request->stop, stopped);
    // At the end nothing can still grow into a stop string: all but a real match goes out.
    release(a, stopped ? n : a.pending.size(), stopped);
  }
  // Metrics first: a client that reads /metrics right after its answer must see its request.
  if (ServerMetrics* m = self->state.options.metrics.get()) {
    const auto now = std::chrono::steady_clock::now();
    m->e2e_request_latency.observe(std::chrono::duration<double>(now - a.request->arrival).count());
    if (a.completion_tokens > 1)
      m->time_per_output_token.observe(std::chrono::duration<double>(now - a.first_token_at).count() /
                                       (a.completion_tokens - 1));
    m->requests_finished[reason == "stop" || reason == "stop_string" ? 0 : reason == "length" ? 1 : 2].fetch_add(1);
  }
  a.request->sink->on_finish(reason, static_cast<int32_t>(a.request->generation.prompt_token_ids.size()),
                             a.completion_tokens);
  self->state.active.erase(it);
}

}  // namespace

size_t emittable_prefix(const std::string& text, const std::vector<std::string>& stop, bool& stopped) {
  size_t first = std::string::npos;
  for (const std::string& s : stop)
    if (!s.empty()) first = std::min(first, text.find(s));
  if (first != std::string::npos) {
    stopped = true;
    return first;
  }
  stopped = false;
  size_t hold = 0;
  for (const std::string& s : stop)
    for (size_t len = std::min(s.size() - 1, text.size()); len > hold; --len)
      if (text.compare(text.size() - len, len, s, 0, len) == 0) {
        hold = len;
        break;
      }
  return text.size() - hold;
}

caf::behavior gateway_actor(Self* self, std::shared_ptr<const Tokenizer> tokenizer, caf::actor scheduler,
                            GatewayOptions options) {
  self->state.tokenizer = std::move(tokenizer);
  self->state.scheduler = scheduler;
  self->state.options = std::move(options);
  return {
      [=](submit_atom, std::shared_ptr<GatewayRequest> req) {
        const SeqId id = req->generation.id;
        auto& st = self->state;
        st.active.emplace(id, GatewayState::Active{req, IncrementalDetokenizer(*st.tokenizer, true), {}, "", 0, false, {}});
        if (st.options.request_timeout.count() > 0)
          self->delayed_send(self, st.options.request_timeout, abort_atom::value, id);
        self->request(st.scheduler, caf::infinite, submit_atom::value, req->generation)
            .then([](bool) {},
                  [=](caf::error& err) {
                    auto it = self->state.active.find(id);
                    if (it == self->state.active.end()) return;
                    it->second.request->sink->on_error(self->system().render(err));
                    self->state.active.erase(it);
                  });
      },
      [=](abort_atom, SeqId id) {
        // The client is gone or the request timed out: free the sequence's blocks now. The
        // scheduler's FinishedBatch (reason abort) ends the request here.
        if (self->state.active.count(id)) self->send(self->state.scheduler, abort_atom::value, id);
      },
      [=](TokenDeltas& d) {
        for (size_t i = 0; i < d.seq_ids.size(); ++i) {
          auto it = self->state.active.find(d.seq_ids[i]);
          if (it == self->state.active.end()) continue;
          GatewayState::Active& a = it->second;
          if (a.completion_tokens++ == 0) {
            a.first_token_at = std::chrono::steady_clock::now();
            if (ServerMetrics* m = self->state.options.metrics.get()) {
              m->time_to_first_token.observe(std::chrono::duration<double>(a.first_token_at - a.request->arrival).count());
              m->prompt_tokens.fetch_add(a.request->generation.prompt_token_ids.size());
            }
          }
          if (ServerMetrics* m = self->state.options.metrics.get()) m->generation_tokens.fetch_add(1);
          GeneratedToken& t = a.held.emplace_back(GeneratedToken{d.tokens[i], a.detokenizer.push(d.tokens[i]), {}});
          if (!d.logprobs.empty()) t.logprobs = std::move(d.logprobs[i]);
          a.pending += t.text;
          if ((a.stop_matched = emit(a))) {
            self->send(self->state.scheduler, abort_atom::value, d.seq_ids[i]);
            finish(self, d.seq_ids[i], "stop_string");
          }
        }
      },
      [=](const FinishedBatch& batch) {
        for (const FinishedSequence& f : batch.sequences) finish(self, f.id, sequence_finish_reason_name(f.reason));
      },
  };
}

}  // namespace troupe
