// The fault plan's injector (which step of which executor suffers what), the backend that applies
// it, and the guard that reports a lost device context before rethrowing.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "engine/runtime/context_loss_guard.h"
#include "engine/runtime/fault_injecting_backend.h"
#include "engine/runtime/fault_plan.h"
#include "kernels/common/device_context_lost.h"

namespace troupe {
namespace {

using Clock = FaultInjector::Clock;
using std::chrono::milliseconds;

Fault fault(Fault::Action action, int64_t at_step) {
  Fault f;
  f.action = action;
  f.at_step = at_step;
  return f;
}

TEST(FaultInjector, ACrashStrikesItsExecutorAtItsStepOnce) {
  Fault crash = fault(Fault::Action::Crash, 3);
  crash.stage = 1;
  FaultInjector inj(FaultPlan{{crash}});
  const auto now = Clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(inj.before_step(0, 0, now).kind, StepFault::Kind::None);  // another stage
  EXPECT_EQ(inj.before_step(1, 0, now).kind, StepFault::Kind::None);
  EXPECT_EQ(inj.before_step(1, 0, now).kind, StepFault::Kind::None);
  const StepFault third = inj.before_step(1, 0, now);
  EXPECT_EQ(third.kind, StepFault::Kind::Crash);
  EXPECT_NE(third.message.find("step 3 of stage 1"), std::string::npos) << third.message;
  EXPECT_EQ(inj.before_step(1, 0, now).kind, StepFault::Kind::None);
}

TEST(FaultInjector, AStickyDeviceErrorFailsEveryLaterStepOfThatExecutorOnly) {
  Fault sticky = fault(Fault::Action::DeviceError, 2);
  sticky.sticky = true;
  sticky.rank = 1;
  FaultInjector inj(FaultPlan{{sticky}});
  const auto now = Clock::now();
  EXPECT_EQ(inj.before_step(0, 1, now).kind, StepFault::Kind::None);
  const StepFault hit = inj.before_step(0, 1, now);
  EXPECT_EQ(hit.kind, StepFault::Kind::ContextLost);
  EXPECT_NE(hit.message.find("cudaErrorIllegalAddress"), std::string::npos) << hit.message;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(inj.before_step(0, 1, now).kind, StepFault::Kind::ContextLost);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(inj.before_step(0, 0, now).kind, StepFault::Kind::None);  // rank 0 is fine
}

TEST(FaultInjector, APlainDeviceErrorFailsOneStep) {
  FaultInjector inj(FaultPlan{{fault(Fault::Action::DeviceError, 1)}});
  EXPECT_EQ(inj.before_step(0, 0, Clock::now()).kind, StepFault::Kind::Error);
  EXPECT_EQ(inj.before_step(0, 0, Clock::now()).kind, StepFault::Kind::None);
}

TEST(FaultInjector, ADelayHoldsItsStepsAndTheLongestOfOverlappingDelaysWins) {
  Fault a = fault(Fault::Action::Delay, 2);
  a.steps = 2;
  a.delay = milliseconds(10);
  Fault b = fault(Fault::Action::Delay, 3);
  b.delay = milliseconds(30);
  FaultInjector inj(FaultPlan{{a, b}});
  const auto now = Clock::now();
  EXPECT_EQ(inj.before_step(0, 0, now).delay, milliseconds(0));
  EXPECT_EQ(inj.before_step(0, 0, now).delay, milliseconds(10));
  EXPECT_EQ(inj.before_step(0, 0, now).delay, milliseconds(30));
  EXPECT_EQ(inj.before_step(0, 0, now).kind, StepFault::Kind::None);
}

TEST(FaultInjector, HeartbeatsAreDroppedFromTheStepForTheDuration) {
  Fault drop = fault(Fault::Action::DropHeartbeats, 2);
  drop.duration = milliseconds(1000);
  FaultInjector inj(FaultPlan{{drop}});
  const auto t0 = Clock::now();
  EXPECT_FALSE(inj.drops_heartbeats(t0));
  inj.before_step(0, 0, t0);
  EXPECT_FALSE(inj.drops_heartbeats(t0));
  inj.before_step(0, 0, t0 + milliseconds(100));  // step 2: the drop starts here
  EXPECT_TRUE(inj.drops_heartbeats(t0 + milliseconds(100)));
  EXPECT_TRUE(inj.drops_heartbeats(t0 + milliseconds(1099)));
  EXPECT_FALSE(inj.drops_heartbeats(t0 + milliseconds(1100)));
}

// Counts the steps that reach it; an optional sticky failure from its own device.
class CountingBackend : public ModelBackend {
 public:
  const ModelConfig& config() const override { return config_; }
  void allocate_kv_cache(int32_t, int32_t) override {}
  SampledTokens run(const ForwardBatch&, std::span<const SamplingRow> rows) override {
    ++runs;
    if (lose_context) throw DeviceContextLost("cudaErrorIllegalAddress from the device");
    return SampledTokens{std::vector<int32_t>(rows.size(), 7), {}, {}};
  }
  std::vector<float> logits(const ForwardBatch&) override { return {}; }
  int runs = 0;
  bool lose_context = false;

 private:
  ModelConfig config_;
};

TEST(FaultInjectingBackend, ThrowsWhatTheStepSuffersAndCrashesThroughItsCallback) {
  auto inner = std::make_shared<CountingBackend>();
  Fault err = fault(Fault::Action::DeviceError, 2);
  Fault sticky = fault(Fault::Action::DeviceError, 4);
  sticky.sticky = true;
  Fault crash = fault(Fault::Action::Crash, 1);
  crash.stage = 3;  // another executor of the process
  auto inj = std::make_shared<FaultInjector>(FaultPlan{{err, sticky, crash}});
  std::string crashed;
  FaultInjectingBackend stage0(inner, inj, 0, 0, [&](const std::string& why) {
    crashed = why;
    throw std::runtime_error("crashed");  // a test cannot end its process; the backend must not go on
  });
  FaultInjectingBackend stage3(inner, inj, 3, 0, [&](const std::string& why) {
    crashed = why;
    throw std::runtime_error("crashed");
  });
  ForwardBatch batch;
  const SamplingRow row;
  EXPECT_EQ(stage0.run(batch, {&row, 1}).tokens, std::vector<int32_t>{7});
  EXPECT_THROW(stage0.run(batch, {&row, 1}), std::runtime_error);
  EXPECT_EQ(stage0.run(batch, {&row, 1}).tokens.size(), 1u);
  EXPECT_THROW(stage0.run(batch, {&row, 1}), DeviceContextLost);
  EXPECT_THROW(stage0.logits(batch), DeviceContextLost);
  EXPECT_EQ(inner->runs, 2);  // the failed steps never reached the model
  EXPECT_THROW(stage3.run(batch, {&row, 1}), std::runtime_error);
  EXPECT_NE(crashed.find("crash at step 1 of stage 3"), std::string::npos) << crashed;
  EXPECT_EQ(inner->runs, 2);
}

TEST(ContextLossGuard, ReportsALostContextAndRethrowsButNotOtherErrors) {
  auto inner = std::make_shared<CountingBackend>();
  std::string lost;
  ContextLossGuard guard(inner, [&](const std::string& why) { lost = why; });
  ForwardBatch batch;
  const SamplingRow row;
  EXPECT_EQ(guard.run(batch, {&row, 1}).tokens, std::vector<int32_t>{7});
  EXPECT_TRUE(lost.empty());
  inner->lose_context = true;
  EXPECT_THROW(guard.run(batch, {&row, 1}), DeviceContextLost);
  EXPECT_NE(lost.find("cudaErrorIllegalAddress"), std::string::npos);
  // A fault-injected sticky error below it is a lost context too.
  Fault sticky = fault(Fault::Action::DeviceError, 1);
  sticky.sticky = true;
  inner->lose_context = false;
  lost.clear();
  ContextLossGuard outer(std::make_shared<FaultInjectingBackend>(inner, std::make_shared<FaultInjector>(FaultPlan{{sticky}}),
                                                                 0, 0, [](const std::string&) {}),
                         [&](const std::string& why) { lost = why; });
  EXPECT_THROW(outer.run(batch, {&row, 1}), DeviceContextLost);
  EXPECT_NE(lost.find("fault plan line 0: device_error at step 1"), std::string::npos) << lost;
  // A plain error is the executor's to handle: not reported.
  lost.clear();
  Fault plain = fault(Fault::Action::DeviceError, 1);
  ContextLossGuard plain_guard(
      std::make_shared<FaultInjectingBackend>(inner, std::make_shared<FaultInjector>(FaultPlan{{plain}}), 0, 0,
                                              [](const std::string&) {}),
      [&](const std::string& why) { lost = why; });
  EXPECT_THROW(plain_guard.run(batch, {&row, 1}), std::runtime_error);
  EXPECT_TRUE(lost.empty());
}

}  // namespace
}  // namespace troupe
