// The graceful shutdown a SIGTERM runs (net::ApiServer::shutdown), in process so that it runs
// under the sanitizers: requests in flight finish, or end with finish reason abort and a complete
// answer; /health and new requests answer 503 meanwhile; nothing is left behind.
#include <gtest/gtest.h>

#include <future>

#include <nlohmann/json.hpp>

#include "test_server.h"

namespace troupe {
namespace {

using nlohmann::json;
using test::http_call;

struct InFlight {
  std::vector<std::future<test::HttpReply>> streams, plain;
};

// `streams` streams and `plain` plain requests, returned once all are in the scheduler.
InFlight start_requests(test::TestServer& server, int max_tokens, int streams = 16, int plain = 4) {
  InFlight f;
  auto call = [&server](json body) {
    return std::async(std::launch::async, [&server, body] {
      try {
        return http_call(server.port(), "POST", "/v1/completions", body.dump());
      } catch (const std::exception& e) {
        return test::HttpReply{0, std::string("client error: ") + e.what(), {}};
      }
    });
  };
  const int total = streams + plain;
  for (int i = 0; i < total; ++i) {
    const bool stream = i < streams;
    json body = {{"prompt", "shutdown " + std::to_string(i)}, {"max_tokens", max_tokens}, {"ignore_eos", true},
                 {"stream", stream}};
    if (stream) body["stream_options"] = {{"include_usage", true}};
    (stream ? f.streams : f.plain).push_back(call(body));
  }
  auto& m = server.metrics();
  for (int i = 0; i < 2000 && m.num_requests_running.load() + m.num_requests_waiting.load() < total; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(m.num_requests_running.load() + m.num_requests_waiting.load(), total) << "not all requests reached the engine";
  return f;
}

// Every stream ends with a final chunk, the usage and [DONE]; every plain request has its answer.
void expect_complete_answers(InFlight& f, const std::string& finish_reason, int max_tokens) {
  for (auto& s : f.streams) {
    const test::HttpReply r = s.get();
    ASSERT_EQ(r.status, 200u) << r.body;
    const auto events = test::sse_events(r.body);
    ASSERT_GE(events.size(), 3u) << r.body;
    EXPECT_EQ(events.back(), "[DONE]");
    const json usage = json::parse(events[events.size() - 2]);
    ASSERT_TRUE(usage.contains("usage")) << r.body;
    const int tokens = usage["usage"]["completion_tokens"];
    bool finished = false;
    for (const auto& e : events)
      if (e != "[DONE]" && json::parse(e)["choices"].size() == 1 && json::parse(e)["choices"][0]["finish_reason"] == finish_reason)
        finished = true;
    EXPECT_TRUE(finished) << "no chunk with finish_reason " << finish_reason << ":\n" << r.body;
    if (finish_reason == "length") EXPECT_EQ(tokens, max_tokens);
    else EXPECT_LT(tokens, max_tokens);
  }
  for (auto& p : f.plain) {
    const test::HttpReply r = p.get();
    ASSERT_EQ(r.status, 200u) << r.body;
    const json j = json::parse(r.body);
    EXPECT_EQ(j["choices"][0]["finish_reason"], finish_reason) << r.body;
  }
}

TEST(ServeShutdown, RequestsInFlightRunToCompletionWhileNewOnesGet503) {
  test::TestServerOptions o;
  o.http.shutdown_timeout = std::chrono::seconds(60);
  test::TestServer server(o);
  const int max_tokens = 8;
  InFlight f = start_requests(server, max_tokens);
  const uint16_t port = server.port();
  auto done = std::async(std::launch::async, [&] { server.shutdown_http(); });
  // While it drains: the health check and new requests are told to go elsewhere.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(done.wait_for(std::chrono::seconds(0)), std::future_status::timeout) << "drained before the requests ended";
  const auto health = http_call(port, "GET", "/health");
  EXPECT_EQ(health.status, 503u) << health.body;
  const auto late = http_call(port, "POST", "/v1/completions", json{{"prompt", "late"}}.dump());
  EXPECT_EQ(late.status, 503u) << late.body;
  EXPECT_EQ(late.header("Connection"), "close");
  expect_complete_answers(f, "length", max_tokens);
  ASSERT_EQ(done.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  const auto snap = server.snapshot();
  EXPECT_EQ(snap.num_free_blocks, snap.num_blocks);
}

TEST(ServeShutdown, RequestsStillRunningAtTheTimeoutEndWithAbort50Times) {
  test::TestServerOptions o;
  o.http.shutdown_timeout = std::chrono::seconds(0);
  for (int round = 0; round < 50; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    test::TestServer server(o);
    o.model = server.shared_model();  // the next rounds skip reading the tokenizer and making weights
    o.folder = server.shared_folder();
    // Fewer requests than the SIGTERM test (tests/cli/shutdown_signal_test.sh): here the point is
    // the 50 stops mid-stream, under ASan, in a bounded time.
    InFlight f = start_requests(server, 4000, 4, 1);
    // Mid-stream: some tokens out, most to come.
    for (int i = 0; i < 1000 && server.metrics().generation_tokens.load() < 10; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    server.shutdown_http();
    expect_complete_answers(f, "abort", 4000);
    if (HasFatalFailure()) return;
    // The scheduler freed every aborted sequence's blocks.
    for (int i = 0; i < 200 && server.snapshot().num_free_blocks != server.snapshot().num_blocks; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const auto snap = server.snapshot();
    EXPECT_EQ(snap.num_free_blocks, snap.num_blocks);
  }
}

}  // namespace
}  // namespace troupe
