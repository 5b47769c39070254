// run_load end to end against a fake OpenAI streaming server on loopback (net::HttpServer with a
// handler that streams max_tokens chunks, 10 ms apart): counts, timings that make sense, the
// concurrency cap, Poisson pacing, and failures (HTTP errors, refused connections, timeouts)
// counted rather than thrown.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <thread>

#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "bench/loadgen/arrival_schedule.h"
#include "bench/loadgen/load_runner.h"
#include "bench/loadgen/report.h"
#include "bench/loadgen/request_generator.h"
#include "net/http_server.h"

namespace troupe::loadgen {
namespace {

using namespace std::chrono_literals;

// How the fake server answers; the prompt's first id picks a behaviour per request.
constexpr int32_t kFail500 = 1;   // answer 500
constexpr int32_t kStall = 2;     // begin the stream, then never write
constexpr int32_t kNoUsage = 3;   // no usage chunk
// Long enough that a client thread descheduled on a busy machine still sees the chunks apart.
constexpr auto kTick = std::chrono::milliseconds(10);

class FakeOpenAiServer {
 public:
  FakeOpenAiServer() : server_(io_, {.host = "127.0.0.1", .port = 0}, [this](const auto& req, auto res) {
                         handle(req, std::move(res));
                       }) {
    server_.start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~FakeOpenAiServer() {
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return server_.port(); }
  int max_in_flight() const { return max_in_flight_; }
  int requests() const { return requests_; }

 private:
  struct Stream {
    std::shared_ptr<net::HttpResponder> res;
    boost::asio::steady_timer timer;
    int left;
    bool usage;
  };

  void handle(const net::HttpRequest& req, std::shared_ptr<net::HttpResponder> res) {
    ++requests_;
    const auto body = nlohmann::json::parse(req.body(), nullptr, false);
    if (!body.is_object() || !body.value("stream", false) || !body.value("ignore_eos", false))
      return res->reply(400, "application/json", R"({"error":{"message":"bad benchmark body"}})");
    const int32_t first = body["prompt"].is_array() ? body["prompt"][0].get<int32_t>() : 0;
    if (first == kFail500) return res->reply(500, "application/json", R"({"error":{"message":"boom"}})");
    res->begin_stream(200, "text/event-stream");
    if (first == kStall) return;
    max_in_flight_ = std::max(max_in_flight_.load(), ++in_flight_);
    auto s = std::make_shared<Stream>(Stream{res, boost::asio::steady_timer(io_), body["max_tokens"].get<int>(),
                                             first != kNoUsage});
    tick(s);
  }

  void tick(std::shared_ptr<Stream> s) {
    s->timer.expires_after(kTick);
    s->timer.async_wait([this, s](const boost::system::error_code&) {
      s->res->write(R"(data: {"choices":[{"index":0,"text":"x","finish_reason":null}]})" "\n\n");
      if (--s->left > 0) return tick(s);
      --in_flight_;
      if (s->usage) s->res->write(R"(data: {"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":5}})" "\n\n");
      s->res->write("data: [DONE]\n\n");
      s->res->end_stream();
    });
  }

  boost::asio::io_context io_;
  net::HttpServer server_;
  std::thread thread_;
  std::atomic<int> in_flight_{0}, max_in_flight_{0}, requests_{0};
};

// n bodies of 4 prompt ids and 5 output tokens; `first_id` steers the fake server.
std::vector<PlannedBody> bodies(size_t n, int32_t first_id = 1000) {
  std::vector<PlannedBody> out;
  for (size_t i = 0; i < n; ++i) {
    const PlannedRequest r{.prompt = {first_id, 1001, 1002, 1003}, .prompt_tokens = 4, .output_tokens = 5};
    out.push_back({request_body(r, ApiFlavor::Completions, "", {}), 4});
  }
  return out;
}

LoadRunnerOptions options_for(uint16_t port) {
  LoadRunnerOptions o;
  o.target.host = "127.0.0.1";
  o.target.port = std::to_string(port);
  return o;
}

TEST(LoadRunner, ClosedLoopMeasuresEveryRequestAndKeepsTheCap) {
  FakeOpenAiServer server;
  LoadRunnerOptions o = options_for(server.port());
  o.concurrency = 3;
  const LoadResult res = run_load(o, bodies(2), bodies(12));
  EXPECT_EQ(server.requests(), 14);
  EXPECT_EQ(server.max_in_flight(), 3);
  EXPECT_EQ(res.warmup_failed, 0u);
  ASSERT_EQ(res.records.size(), 12u);  // warm-up not counted
  double decode_s = 0;  // the longest first-chunk-to-[DONE] time
  for (const RequestRecord& r : res.records) {
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.output_tokens, 5);
    EXPECT_EQ(r.prompt_tokens, 4);
    EXPECT_EQ(r.itl_s.size(), 4u);
    EXPECT_GE(r.ttft_s, 0.010);  // the first chunk comes after one tick
    EXPECT_LE(r.ttft_s, r.e2e_s);
    decode_s = std::max(decode_s, r.e2e_s - r.ttft_s);
    EXPECT_GE(r.tpot_s(), 0.0);
  }
  const BenchReport rep = make_report(res.records, res.duration_s, {});
  EXPECT_EQ(rep.completed, 12u);
  EXPECT_EQ(rep.failed, 0u);
  EXPECT_EQ(rep.total_output_tokens, 60);
  EXPECT_LT(rep.ttft_ms.mean, rep.e2el_ms.mean);
  // 4 ticks (40 ms) go by between the first chunk and [DONE]. Timing by message instead of by read
  // would make TTFT = E2E; a starved client thread can coalesce one request's chunks, not all 12.
  EXPECT_GE(decode_s, 0.020);
  EXPECT_GT(res.duration_s, 4 * 5 * 0.010);  // 12 requests, 3 at a time, 5 ticks each
  EXPECT_NEAR(rep.request_throughput, 12 / res.duration_s, 1e-9);
}

TEST(LoadRunner, PoissonArrivalsSpreadTheRequests) {
  FakeOpenAiServer server;
  LoadRunnerOptions o = options_for(server.port());
  o.request_rate = 100;  // mean gap 10 ms
  o.seed = 9;
  const LoadResult res = run_load(o, {}, bodies(20));
  ASSERT_EQ(res.records.size(), 20u);
  EXPECT_TRUE(std::all_of(res.records.begin(), res.records.end(), [](const auto& r) { return r.ok; }));
  const double last_send = poisson_arrival_offsets(20, 100, 9).back();
  EXPECT_GT(res.duration_s, last_send);
}

TEST(LoadRunner, PoissonArrivalsUnderACapWaitForRoom) {
  FakeOpenAiServer server;
  LoadRunnerOptions o = options_for(server.port());
  o.request_rate = 1000;  // all 12 arrive within ~12 ms, while each request takes 5 ticks (50 ms)
  o.concurrency = 2;
  o.seed = 3;
  const LoadResult res = run_load(o, {}, bodies(12));
  ASSERT_EQ(res.records.size(), 12u);
  EXPECT_TRUE(std::all_of(res.records.begin(), res.records.end(), [](const auto& r) { return r.ok; }));
  EXPECT_EQ(server.max_in_flight(), 2);
  EXPECT_GT(res.duration_s, 6 * 5 * 0.010);  // 12 requests, 2 at a time, 5 ticks each
}

TEST(LoadRunner, HttpErrorsAreCountedNotThrown) {
  FakeOpenAiServer server;
  LoadRunnerOptions o = options_for(server.port());
  o.concurrency = 2;
  std::vector<PlannedBody> mixed = bodies(3);
  for (auto& b : bodies(2, kFail500)) mixed.push_back(std::move(b));
  const BenchReport rep = make_report(run_load(o, {}, std::move(mixed)).records, 1.0, {});
  EXPECT_EQ(rep.completed, 3u);
  EXPECT_EQ(rep.failed, 2u);
  ASSERT_EQ(rep.errors.size(), 1u);
  EXPECT_EQ(rep.errors.begin()->first.rfind("HTTP 500", 0), 0u) << rep.errors.begin()->first;
}

TEST(LoadRunner, MissingUsageFallsBackToCountingChunks) {
  FakeOpenAiServer server;
  const LoadResult res = run_load(options_for(server.port()), {}, bodies(2, kNoUsage));
  ASSERT_EQ(res.records.size(), 2u);
  EXPECT_TRUE(res.records[0].ok) << res.records[0].error;
  EXPECT_EQ(res.records[0].output_tokens, 5);
}

TEST(LoadRunner, RefusedConnectionsFailTheWarmupAndSkipTheRun) {
  uint16_t closed_port = 0;
  {
    FakeOpenAiServer server;  // a port that was just free, now closed
    closed_port = server.port();
  }
  const LoadResult res = run_load(options_for(closed_port), bodies(2), bodies(5));
  EXPECT_TRUE(res.skipped);
  EXPECT_EQ(res.warmup_failed, 2u);
  EXPECT_EQ(res.warmup_error.rfind("connection", 0), 0u) << res.warmup_error;
  EXPECT_TRUE(res.records.empty());
}

TEST(LoadRunner, StalledStreamsTimeOut) {
  FakeOpenAiServer server;
  LoadRunnerOptions o = options_for(server.port());
  o.request_timeout = 200ms;
  const LoadResult res = run_load(o, {}, bodies(2, kStall));
  ASSERT_EQ(res.records.size(), 2u);
  for (const RequestRecord& r : res.records) {
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("timeout"), std::string::npos) << r.error;
  }
}

TEST(LoadRunner, CtrlCCancelsWhatIsInFlightAndReturns) {
  FakeOpenAiServer server;
  LoadRunnerOptions o = options_for(server.port());
  o.stop_on_sigint = true;
  o.request_timeout = 10s;  // only if the signal went astray
  std::thread ctrl_c([&] {
    // The runner listens for SIGINT before it sends, so once the server has the requests it is safe.
    while (server.requests() < 3) std::this_thread::sleep_for(1ms);
    std::raise(SIGINT);
  });
  const LoadResult res = run_load(o, {}, bodies(3, kStall));
  ctrl_c.join();
  EXPECT_TRUE(res.interrupted);
  ASSERT_EQ(res.records.size(), 3u);
  const BenchReport rep = make_report(res.records, res.duration_s, {}, res.interrupted);
  EXPECT_EQ(rep.cancelled, 3u);
  EXPECT_EQ(rep.failed, 0u);
  EXPECT_LT(res.duration_s, 5.0);
}

}  // namespace
}  // namespace troupe::loadgen
