// The HTTP server's gateway learns of a restarted scheduler: requests in flight when the scheduler
// is killed, streamed or not, still get exactly the text of an uninterrupted run, each token once.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include <nlohmann/json.hpp>

#include "test_server.h"

namespace troupe {
namespace {

using nlohmann::json;
using test::http_call;
using test::sse_events;

std::string streamed_text(const std::string& body, std::string& finish) {
  std::string text;
  for (const std::string& event : sse_events(body)) {
    if (event == "[DONE]") continue;
    const json e = json::parse(event);
    if (e["choices"].empty()) continue;
    text += e["choices"][0]["text"].get<std::string>();
    if (!e["choices"][0]["finish_reason"].is_null()) finish = e["choices"][0]["finish_reason"];
  }
  return text;
}

TEST(ServeRestart, RequestsInFlightWhenTheSchedulerDiesGetTheTextOfAnUninterruptedRun) {
  test::TestServer server;
  constexpr int kTokens = 96;
  const json body = {{"prompt", "Once upon a time"}, {"max_tokens", kTokens}, {"temperature", 0}, {"ignore_eos", true}};
  const json expected = json::parse(http_call(server.port(), "POST", "/v1/completions", body.dump()).body);
  const uint64_t before = server.metrics().generation_tokens.load();
  ASSERT_EQ(before, static_cast<uint64_t>(kTokens));

  json stream_body = body;
  stream_body["stream"] = true;
  auto plain = std::async(std::launch::async, [&] { return http_call(server.port(), "POST", "/v1/completions", body.dump()); });
  auto streamed = std::async(std::launch::async,
                             [&] { return http_call(server.port(), "POST", "/v1/completions", stream_body.dump()); });
  // Kill once both have some tokens and neither is near its end.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (server.metrics().generation_tokens.load() < before + 2 * 10 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  server.kill_scheduler();
  const uint64_t at_kill = server.metrics().generation_tokens.load();
  EXPECT_LT(at_kill, before + 2 * kTokens - 20) << "the requests had (nearly) finished before the kill";

  const auto plain_reply = plain.get();
  ASSERT_EQ(plain_reply.status, 200u) << plain_reply.body;
  const json got = json::parse(plain_reply.body);
  EXPECT_EQ(got["choices"][0]["text"], expected["choices"][0]["text"]);
  EXPECT_EQ(got["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(got["usage"], expected["usage"]);
  const auto streamed_reply = streamed.get();
  ASSERT_EQ(streamed_reply.status, 200u);
  std::string finish;
  EXPECT_EQ(streamed_text(streamed_reply.body, finish), expected["choices"][0]["text"]);
  EXPECT_EQ(finish, "length");
  EXPECT_EQ(server.metrics().generation_tokens.load(), before + 2 * kTokens) << "a token was received twice or lost";

  // The new scheduler serves new requests too, and holds nothing.
  const json again = json::parse(http_call(server.port(), "POST", "/v1/completions", body.dump()).body);
  EXPECT_EQ(again["choices"][0]["text"], expected["choices"][0]["text"]);
  const SchedulerSnapshot s = server.snapshot();
  EXPECT_EQ(s.num_running + s.num_waiting, 0);
  EXPECT_EQ(s.num_free_blocks, s.num_blocks);
}

// Past the restart budget the engine is gone for good: /health says so (503) for an orchestrator
// to restart the process, /metrics shows troupe:engine_alive 0, and a new request gets an error.
TEST(ServeRestart, HealthTurns503OnceTheRestartBudgetIsSpent) {
  test::TestServerOptions o;
  o.max_restarts = 0;
  test::TestServer server(o);
  EXPECT_EQ(http_call(server.port(), "GET", "/health").status, 200u);
  EXPECT_NE(http_call(server.port(), "GET", "/metrics").body.find("troupe:engine_alive{model_name=\"demo-model\"} 1"), std::string::npos);
  server.kill_scheduler();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  test::HttpReply health;
  while ((health = http_call(server.port(), "GET", "/health")).status == 200u && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(health.status, 503u);
  EXPECT_EQ(json::parse(health.body)["status"], "dead");
  EXPECT_NE(http_call(server.port(), "GET", "/metrics").body.find("troupe:engine_alive{model_name=\"demo-model\"} 0"), std::string::npos);
  const json body = {{"prompt", "Once upon a time"}, {"max_tokens", 4}};
  EXPECT_NE(http_call(server.port(), "POST", "/v1/completions", body.dump()).status, 200u);
}

}  // namespace
}  // namespace troupe
