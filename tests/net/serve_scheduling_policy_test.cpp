// vLLM's --scheduling-policy priority end to end: with one sequence running at a time, requests
// that wait are served lower priority first, whatever their arrival order. (Under fcfs, the
// default, a non-zero priority is a 400: request_fields_test walks that.)
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_server.h"

namespace troupe {
namespace {

using nlohmann::json;
using test::http_call;

// Polls the scheduler until `done` holds (or 20 s pass).
template <typename Pred>
bool wait_for(test::TestServer& server, Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done(server.snapshot())) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

TEST(ServeSchedulingPolicy, PriorityOrdersTheWaitingQueue) {
  test::TestServerOptions o;
  o.config.max_num_seqs = 1;  // one runs, the rest wait in the queue whose order is under test
  o.field_gates.priority_scheduling = true;
  test::TestServer server(o);
  std::mutex mu;
  std::vector<std::string> finished;  // names, in the order their answers came back
  auto send = [&](std::string name, int priority, int max_tokens) {
    return std::thread([&, name, priority, max_tokens] {
      const auto r = http_call(server.port(), "POST", "/v1/completions",
                               json{{"prompt", "Once upon a time"}, {"max_tokens", max_tokens}, {"ignore_eos", true},
                                    {"priority", priority}}.dump());
      EXPECT_EQ(r.status, 200u) << name << ": " << r.body;
      std::lock_guard lock(mu);
      finished.push_back(name);
    });
  };
  // Its 64 tokens take seconds here (tenths on a fast machine); the others queue within milliseconds.
  // (EXPECT, not ASSERT, on the waits: every thread is joined whatever happens.)
  std::thread running = send("running", 0, 64);
  EXPECT_TRUE(wait_for(server, [](const SchedulerSnapshot& s) { return s.num_running == 1; }));
  std::thread late = send("priority 5", 5, 2);  // arrives first, served last
  EXPECT_TRUE(wait_for(server, [](const SchedulerSnapshot& s) { return s.num_waiting == 1; }));
  std::thread urgent = send("priority -5", -5, 2);
  EXPECT_TRUE(wait_for(server, [](const SchedulerSnapshot& s) { return s.num_waiting == 2; }));
  for (std::thread* t : {&running, &late, &urgent}) t->join();
  EXPECT_EQ(finished, (std::vector<std::string>{"running", "priority -5", "priority 5"}));
  // A priority that is not an integer names the field.
  const auto bad = http_call(server.port(), "POST", "/v1/completions", R"({"prompt": "x", "priority": "high"})");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(json::parse(bad.body)["error"]["param"], "priority");
}

}  // namespace
}  // namespace troupe
