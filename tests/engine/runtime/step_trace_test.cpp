// TROUPE_STEP_TRACE: one CSV line per executed step, in order, with what the step held; a
// backend that cannot time its steps (the CPU) reports -1 for staging and device time; in lock
// step no step is launched ahead.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../model/fixture_model.h"
#include "engine/runtime/cpu_backend.h"
#include "engine/runtime/local_engine.h"
#include "pipelining_fake_backend.h"

namespace troupe {
namespace {

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream in(line);
  for (std::string field; std::getline(in, field, ',');) out.push_back(field);
  return out;
}

TEST(StepTrace, OneLinePerExecutedStep) {
  const auto path = std::filesystem::temp_directory_path() / "troupe-step-trace-test.csv";
  ::setenv("TROUPE_STEP_TRACE", path.c_str(), 1);
  auto model = std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2"));
  CpuBackend backend(model);
  int64_t steps = 0;
  {
    LocalEngine engine(backend, {.max_num_seqs = 4, .max_num_batched_tokens = 32, .block_size = 16, .num_blocks = 64,
                                 .enable_prefix_caching = false, .long_prefill_token_threshold = 0});
    SamplingParams p;
    p.temperature = 0.0f;
    p.max_tokens = 5;
    p.ignore_eos = true;
    for (SeqId id : {1, 2})
      engine.add_request({.id = id, .prompt_token_ids = std::vector<int32_t>(20 + id, 7), .sampling_params = p,
                          .eos_token_ids = {}, .priority = 0, .arrival = {}, .output_token_ids = {}});
    engine.run_to_completion();
    steps = engine.scheduler().stats().num_steps;
  }
  ::unsetenv("TROUPE_STEP_TRACE");
  std::ifstream in(path);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, "step,seqs,tokens,decodes,logits,run_us,idle_us,prep_us,staging_us,device_us,ahead,gpu_idle_us");
  int64_t lines = 0, tokens = 0, last_step = 0;
  while (std::getline(in, line)) {
    const auto f = split(line);
    ASSERT_EQ(f.size(), 12u) << line;
    EXPECT_GT(std::stoll(f[0]), last_step) << "steps in order";
    last_step = std::stoll(f[0]);
    tokens += std::stoll(f[2]);
    EXPECT_GE(std::stoll(f[5]), 0);
    EXPECT_EQ(f[8], "-1") << "the CPU backend does not time its steps";
    EXPECT_EQ(f[10], "0") << "LocalEngine runs in lock step";
    EXPECT_EQ(f[11], "-1") << "the CPU backend cannot tell the device's idle time";
    ++lines;
  }
  EXPECT_EQ(lines, steps);
  EXPECT_EQ(tokens, 21 + 22 + 2 * 4) << "prompt tokens plus the decodes after each first token";
  std::filesystem::remove(path);
}

// Pipelined: a step launched before its predecessor was collected says so (ahead = 1) and has
// no idle time; lines still come one per step, in step order, when each step is collected.
TEST(StepTrace, AStepLaunchedAheadIsMarkedAndNotIdle) {
  const auto path = std::filesystem::temp_directory_path() / "troupe-step-trace-pipelined-test.csv";
  ::setenv("TROUPE_STEP_TRACE", path.c_str(), 1);
  test::PipeliningFakeBackend backend(
      std::make_shared<CpuBackend>(std::make_shared<CpuModel>(test::load_fixture_model("tiny-qwen2"))));
  {
    Scheduler scheduler({.max_num_seqs = 4, .max_num_batched_tokens = 32, .block_size = 16, .num_blocks = 64,
                         .enable_prefix_caching = false, .long_prefill_token_threshold = 0});
    StepRunner runner(backend, 64, 16);
    SamplingParams p;
    p.temperature = 0.0f;
    p.max_tokens = 5;
    scheduler.add_request({.id = 1, .prompt_token_ids = std::vector<int32_t>(9, 7), .sampling_params = p});
    const StepPlan first = scheduler.schedule();
    runner.launch(first);
    const StepPlan second = scheduler.schedule();
    ASSERT_TRUE(runner.can_launch_ahead(second));
    runner.launch(second);
    scheduler.update(first.step_id, runner.collect().tokens);
    runner.collect();
  }
  ::unsetenv("TROUPE_STEP_TRACE");
  std::ifstream in(path);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  std::vector<std::vector<std::string>> rows;
  while (std::getline(in, line)) rows.push_back(split(line));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][0], "1");
  EXPECT_EQ(rows[0][10], "0") << "nothing was pending";
  EXPECT_EQ(rows[1][0], "2");
  EXPECT_EQ(rows[1][3], "1") << "one decode";
  EXPECT_EQ(rows[1][6], "0") << "launched while step 1 ran: no idle time";
  EXPECT_EQ(rows[1][10], "1");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace troupe
