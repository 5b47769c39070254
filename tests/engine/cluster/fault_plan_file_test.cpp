// A fault plan file is read as strictly as a cluster file: every fault's keys, and each mistake a
// ConfigError naming the file, line and key.
#include <gtest/gtest.h>

#include <string>

#include "engine/cluster/config_error.h"
#include "engine/cluster/fault_plan_file.h"

namespace troupe {
namespace {

TEST(FaultPlanFile, ReadsEveryAction) {
  const FaultPlan plan = parse_fault_plan(R"([[fault]]
action = "crash"
at_step = 40
stage = 1

[[fault]]
action = "device_error"
at_step = 7
rank = 1
sticky = true

[[fault]]
action = "delay"
at_step = 3
steps = 5
delay_ms = 200

[[fault]]
action = "drop_heartbeats"
duration_s = 2.5
)",
                                          "plan.toml");
  ASSERT_EQ(plan.faults.size(), 4u);
  EXPECT_EQ(plan.faults[0].action, Fault::Action::Crash);
  EXPECT_EQ(plan.faults[0].at_step, 40);
  EXPECT_EQ(plan.faults[0].stage, 1);
  EXPECT_FALSE(plan.faults[0].rank.has_value());
  EXPECT_EQ(plan.faults[0].line, 1);
  EXPECT_TRUE(plan.faults[1].sticky);
  EXPECT_EQ(plan.faults[1].rank, 1);
  EXPECT_EQ(plan.faults[2].steps, 5);
  EXPECT_EQ(plan.faults[2].delay.count(), 200);
  EXPECT_EQ(plan.faults[3].at_step, 1);
  EXPECT_EQ(plan.faults[3].duration.count(), 2500);
  EXPECT_EQ(plan.faults[3].line, 18);
}

void expect_error(const std::string& text, int line, const std::string& key, const std::string& part) {
  try {
    parse_fault_plan(text, "plan.toml");
    ADD_FAILURE() << "accepted: " << text;
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), line) << e.what();
    EXPECT_EQ(e.key(), key) << e.what();
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("plan.toml:", 0), 0u) << e.what();
  }
}

TEST(FaultPlanFile, RefusesWhatItWouldOtherwiseIgnoreByKey) {
  expect_error("[[fault]]\naction = \"explode\"\n", 2, "fault[0].action", "not one of crash, device_error");
  expect_error("[[fault]]\naction = \"crash\"\nsticky = true\n", 3, "fault[0].sticky", "a crash fault does not use it");
  expect_error("[[fault]]\naction = \"crash\"\nat_stp = 3\n", 3, "fault[0].at_stp", "at_step");
  expect_error("[[fault]]\naction = \"crash\"\nat_step = 0\n", 3, "fault[0].at_step", "");
  expect_error("[[fault]]\naction = \"delay\"\n", 1, "fault[0].delay_ms", "missing");
  expect_error("[[fault]]\naction = \"drop_heartbeats\"\n", 1, "fault[0].duration_s", "missing");
  expect_error("[[fault]]\nat_step = 3\n", 1, "fault[0].action", "");
  expect_error("[faults]\n", 1, "faults", "");
  expect_error("", 0, "fault", "no [[fault]] tables");
  expect_error("[[fault]\n", 1, "", "TOML syntax");
}

}  // namespace
}  // namespace troupe
