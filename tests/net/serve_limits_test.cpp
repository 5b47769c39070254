// What keeps a server healthy and observable: /metrics, a bounded queue (429), API keys and
// request timeouts.
#include <gtest/gtest.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "test_server.h"

namespace troupe {
namespace {

using nlohmann::json;
using test::http_call;

const std::string kModel = "{model_name=\"demo-model\"}";  // every series' label (TestServer's name)

// The value of one metric line, e.g. metric(text, "troupe:num_requests_running" + kModel).
double metric(const std::string& text, const std::string& name) {
  const std::regex line("^" + std::regex_replace(name, std::regex(R"([{}":=+])"), R"(\$&)") + R"( ([0-9.e+-]+)$)",
                        std::regex::multiline);
  std::smatch m;
  if (!std::regex_search(text, m, line)) throw std::runtime_error("no metric " + name + " in:\n" + text);
  return std::stod(m[1]);
}

TEST(ServeLimits, MetricsCountWhatHappened) {
  test::TestServer server;
  int prompt_tokens = 0, completion_tokens = 0;
  for (int i = 0; i < 3; ++i) {
    const json body = {{"prompt", "metrics " + std::to_string(i)}, {"max_tokens", 4 + i}, {"temperature", 0}, {"ignore_eos", true}};
    const json r = json::parse(http_call(server.port(), "POST", "/v1/completions", body.dump()).body);
    prompt_tokens += r["usage"]["prompt_tokens"].get<int>();
    completion_tokens += r["usage"]["completion_tokens"].get<int>();
  }
  const auto reply = http_call(server.port(), "GET", "/metrics");
  ASSERT_EQ(reply.status, 200u);
  const std::string& t = reply.body;
  EXPECT_EQ(metric(t, "troupe:num_requests_running" + kModel), 0);
  EXPECT_EQ(metric(t, "troupe:num_requests_waiting" + kModel), 0);
  EXPECT_EQ(metric(t, "troupe:kv_cache_usage_perc" + kModel), 0) << "finished requests' cached blocks count as free";
  EXPECT_EQ(metric(t, "troupe:generation_tokens_total" + kModel), completion_tokens);
  EXPECT_EQ(metric(t, "troupe:prompt_tokens_total" + kModel), prompt_tokens);
  EXPECT_EQ(metric(t, "troupe:request_success_total{model_name=\"demo-model\",finished_reason=\"length\"}"), 3);
  for (const char* h : {"time_to_first_token_seconds", "e2e_request_latency_seconds", "request_queue_time_seconds",
                        "time_per_output_token_seconds"}) {
    EXPECT_EQ(metric(t, std::string("troupe:") + h + "_count" + kModel), 3) << h;
    EXPECT_EQ(metric(t, std::string("troupe:") + h + "_bucket{model_name=\"demo-model\",le=\"+Inf\"}"), 3) << h;
  }
  EXPECT_GE(metric(t, "troupe:prefix_cache_hits_total" + kModel), 0);
  // vLLM's dashboard series: a hit rate's denominator, per-request token histograms, tokens per step.
  const double hits = metric(t, "troupe:prefix_cache_hits_total" + kModel);
  EXPECT_EQ(metric(t, "troupe:prefix_cache_queries_total" + kModel), prompt_tokens) << "each prompt looked up once";
  EXPECT_EQ(metric(t, "troupe:num_preemptions_total" + kModel), 0);
  EXPECT_EQ(metric(t, "troupe:request_prompt_tokens_count" + kModel), 3);
  EXPECT_EQ(metric(t, "troupe:request_prompt_tokens_sum" + kModel), prompt_tokens);
  EXPECT_EQ(metric(t, "troupe:request_generation_tokens_sum" + kModel), completion_tokens);
  EXPECT_EQ(metric(t, "troupe:request_generation_tokens_bucket{model_name=\"demo-model\",le=\"5\"}"), 2);  // 4 and 5 of 4, 5, 6
  // Every prompt token not served from the cache and every output but each request's last is computed once.
  EXPECT_EQ(metric(t, "troupe:iteration_tokens_total_sum" + kModel), prompt_tokens + completion_tokens - 3 - hits);
}

TEST(ServeLimits, PreemptionsAreCounted) {
  // 6 blocks of 16 tokens cannot hold two requests of ~64 tokens each: one is preempted and recomputed.
  test::TestServerOptions o;
  o.config.num_blocks = 6;
  test::TestServer server(o);
  std::vector<std::thread> clients;
  for (int i = 0; i < 2; ++i)
    clients.emplace_back([&server, i] {
      const json body = {{"prompt", "preempt " + std::to_string(i)}, {"max_tokens", 60}, {"ignore_eos", true}};
      EXPECT_EQ(http_call(server.port(), "POST", "/v1/completions", body.dump()).status, 200u);
    });
  for (auto& c : clients) c.join();
  EXPECT_GE(metric(http_call(server.port(), "GET", "/metrics").body, "troupe:num_preemptions_total" + kModel), 1);
}

// Sends a long streaming request and leaves it open; closing the socket aborts it.
std::unique_ptr<boost::beast::tcp_stream> open_stream(boost::asio::io_context& io, uint16_t port) {
  auto stream = std::make_unique<boost::beast::tcp_stream>(io);
  stream->connect({boost::asio::ip::make_address("127.0.0.1"), port});
  const std::string body = R"({"prompt": "keep busy", "max_tokens": 3000, "ignore_eos": true, "stream": true})";
  const std::string req = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + body;
  boost::asio::write(*stream, boost::asio::buffer(req));
  return stream;
}

TEST(ServeLimits, FullQueueAnswers429WithRetryAfter) {
  test::TestServerOptions o;
  o.config.max_num_seqs = 1;
  o.max_waiting = 1;
  test::TestServer server(o);
  auto wait_for = [&](const std::atomic<int64_t>& gauge, int64_t value) {
    for (int i = 0; i < 500 && gauge.load() != value; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return gauge.load() == value;
  };
  // One request running, one waiting: the queue is full until they are gone.
  boost::asio::io_context io;
  auto running = open_stream(io, server.port());
  ASSERT_TRUE(wait_for(server.metrics().num_requests_running, 1));
  // A request leaves the queue with its first token (net/admission.h).
  for (int i = 0; i < 500 && server.metrics().generation_tokens.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto waiting = open_stream(io, server.port());
  ASSERT_TRUE(wait_for(server.metrics().num_requests_waiting, 1));
  const auto r = http_call(server.port(), "POST", "/v1/completions", json{{"prompt", "one more"}}.dump());
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(r.header("Retry-After"), "1");
  EXPECT_EQ(json::parse(r.body)["error"]["code"], 429);
  EXPECT_EQ(metric(http_call(server.port(), "GET", "/metrics").body, "troupe:requests_rejected_total" + kModel), 1);
  running.reset();  // hang up: both are aborted and the queue empties
  waiting.reset();
  ASSERT_TRUE(wait_for(server.metrics().num_requests_waiting, 0));
  ASSERT_TRUE(wait_for(server.metrics().num_requests_running, 0));
  EXPECT_EQ(http_call(server.port(), "POST", "/v1/completions", json{{"prompt", "after"}, {"max_tokens", 2}}.dump()).status, 200u);
}

TEST(ServeLimits, ABurstAtOneInstantAdmitsNoMoreThanTheQueueDepth) {
  test::TestServerOptions o;
  o.config.max_num_seqs = 4;
  o.max_waiting = 8;
  test::TestServer server(o);
  const int n = 256;
  const std::string body = json{{"prompt", "burst"}, {"max_tokens", 500}, {"ignore_eos", true}, {"stream", true}}.dump();
  const std::string request = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
  boost::asio::io_context io;
  std::vector<boost::asio::ip::tcp::socket> sockets;
  for (int i = 0; i < n; ++i) {
    sockets.emplace_back(io);
    sockets.back().connect({boost::asio::ip::make_address("127.0.0.1"), server.port()});
  }
  // Every request is written at one barrier; each thread then reads only its status line.
  std::atomic<int> ready{0}, ok{0}, busy{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      auto& s = sockets[static_cast<size_t>(i)];
      ready.fetch_add(1);
      while (ready.load() < n) std::this_thread::yield();
      boost::asio::write(s, boost::asio::buffer(request));
      std::string status;
      boost::system::error_code ec;
      boost::asio::read_until(s, boost::asio::dynamic_buffer(status), "\r\n", ec);
      if (status.rfind("HTTP/1.1 200", 0) == 0) ok.fetch_add(1);
      if (status.rfind("HTTP/1.1 429", 0) == 0) busy.fetch_add(1);
    });
  for (auto& t : threads) t.join();
  // 8 queued plus the 4 that may have started running (and so left the queue) meanwhile.
  EXPECT_LE(ok.load(), 12);
  EXPECT_GE(ok.load(), 8);
  EXPECT_EQ(ok.load() + busy.load(), n) << "every request got 200 or 429";
}

TEST(ServeLimits, ApiKeyGuardsTheApiButNotHealthOrMetrics) {
  test::TestServerOptions o;
  o.api_key = "sekret";
  test::TestServer server(o);
  EXPECT_EQ(http_call(server.port(), "GET", "/health").status, 200u);
  const auto denied = http_call(server.port(), "GET", "/v1/models");
  EXPECT_EQ(denied.status, 401u);
  EXPECT_EQ(json::parse(denied.body)["error"]["code"], 401);
  EXPECT_EQ(http_call(server.port(), "GET", "/v1/models", "", {{"Authorization", "Bearer wrong"}}).status, 401u);
  EXPECT_EQ(http_call(server.port(), "GET", "/v1/models", "", {{"Authorization", "Bearer sekret"}}).status, 200u);
  EXPECT_EQ(http_call(server.port(), "GET", "/metrics", "", {{"Authorization", "Bearer sekret"}}).status, 200u);
  EXPECT_EQ(http_call(server.port(), "GET", "/metrics").status, 200u);  // as vLLM (--metrics-need-api-key: 401)
}

TEST(ServeLimits, RequestTimeoutEndsARequestWithAbortAndFreesItsBlocks) {
  test::TestServerOptions o;
  o.request_timeout = std::chrono::seconds(1);
  test::TestServer server(o);
  const auto start = std::chrono::steady_clock::now();
  const json body = {{"prompt", "never ending"}, {"max_tokens", 4000}, {"temperature", 0}, {"ignore_eos", true}};
  const auto r = http_call(server.port(), "POST", "/v1/completions", body.dump());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(json::parse(r.body)["choices"][0]["finish_reason"], "abort");
  EXPECT_LT(seconds, 10.0);
  const auto s = server.snapshot();
  EXPECT_EQ(s.num_free_blocks, s.num_blocks);
}

}  // namespace
}  // namespace troupe
