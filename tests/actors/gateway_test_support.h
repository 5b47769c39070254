#pragma once
// What tests that drive a gateway share: sinks that record what each client saw, submitting
// through the gateway, the oracle (each request alone) and the check against it.
#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/gateway_actor.h"
#include "actors/message_inspect.h"
#include "engine/model/cpu_model.h"
#include "engine/model_folder.h"
#include "tests/actors/actor_test_support.h"  // alone(): the oracle

namespace troupe::test::gateway {

// What one client saw.
struct ClientView {
  std::vector<int32_t> tokens;  // every token of every on_output, in order
  std::string reason;           // of on_finish
  int32_t completion_tokens = -1;
  std::string error;            // of on_error
  std::optional<troupe_error> error_code;  // of on_error
  int endings = 0;              // on_finish and on_error calls: exactly one is right
};

// All clients' views, written on the gateway's thread and read by the test's.
struct Clients {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<SeqId, ClientView> views;
  int64_t tokens = 0;
  size_t ended = 0;
};

class RecordingSink : public RequestSink {
 public:
  RecordingSink(std::shared_ptr<Clients> clients, SeqId id) : clients_(std::move(clients)), id_(id) {}
  void on_output(const std::string&, std::vector<GeneratedToken> tokens) override {
    std::lock_guard lock(clients_->mutex);
    for (const GeneratedToken& t : tokens) clients_->views[id_].tokens.push_back(t.id);
    clients_->tokens += static_cast<int64_t>(tokens.size());
    clients_->changed.notify_all();
  }
  void on_finish(const std::string& reason, int32_t, int32_t completion_tokens) override {
    std::lock_guard lock(clients_->mutex);
    ClientView& v = clients_->views[id_];
    v.reason = reason;
    v.completion_tokens = completion_tokens;
    clients_->ended += v.endings++ == 0;
    clients_->changed.notify_all();
  }
  void on_error(troupe_error code, const std::string& message) override {
    std::lock_guard lock(clients_->mutex);
    ClientView& v = clients_->views[id_];
    v.error = message;
    v.error_code = code;
    clients_->ended += v.endings++ == 0;
    clients_->changed.notify_all();
  }

 private:
  std::shared_ptr<Clients> clients_;
  SeqId id_;
};

inline void submit(const caf::actor& gateway, const std::shared_ptr<Clients>& clients, const GenerationRequest& r) {
  auto g = std::make_shared<GatewayRequest>();
  g->generation = r;
  g->sink = std::make_shared<RecordingSink>(clients, r.id);
  caf::anon_send(gateway, submit_atom::value, std::move(g));
}

struct Outcome {
  std::shared_ptr<Clients> clients = std::make_shared<Clients>();
  int kills = 0;
};

// Computed before the engine starts: the model's scratch buffers are not to be shared with a
// running executor.
inline std::map<SeqId, std::vector<int32_t>> outputs_alone(CpuModel& model, const std::vector<GenerationRequest>& requests) {
  std::map<SeqId, std::vector<int32_t>> out;
  for (const auto& r : requests) out[r.id] = alone(model, r);
  return out;
}

inline Tokenizer demo_tokenizer() {
  // The fixture models have no tokenizer; any whose vocabulary covers their 384 ids will do for
  // the gateway's detokenizer, which this test does not check.
  return open_model_folder(std::string(TROUPE_CACHE_DIR) + "/demo-model").text.tokenizer;
}

// Calls check(request, what its client saw) for every request under the clients' lock, after
// checking that the client saw exactly one ending; each failure names the request.
template <class Check>
void for_each_client(const Outcome& run, const std::vector<GenerationRequest>& requests, Check check) {
  std::lock_guard lock(run.clients->mutex);
  for (const auto& r : requests) {
    SCOPED_TRACE("request " + std::to_string(r.id));
    const ClientView& v = run.clients->views[r.id];
    EXPECT_EQ(v.endings, 1);
    check(r, v);
  }
}

// Every client got exactly the tokens its request gives alone, and one ending that says why.
inline void expect_outputs_alone(const Outcome& run, const std::vector<GenerationRequest>& requests,
                                 const std::map<SeqId, std::vector<int32_t>>& alone) {
  for_each_client(run, requests, [&](const GenerationRequest& r, const ClientView& v) {
    EXPECT_EQ(v.error, "");
    EXPECT_EQ(v.tokens, alone.at(r.id)) << "tokens lost, repeated or different";
    EXPECT_EQ(v.reason, r.eos_token_ids.empty() ? "length" : "stop");
    EXPECT_EQ(v.completion_tokens, static_cast<int32_t>(alone.at(r.id).size()));
  });
}

}  // namespace troupe::test::gateway
