#pragma once
// FaultPlan: faults a process injects into itself, for tests and drills (`--fault-plan FILE`,
// read by engine/cluster/fault_plan_file.h; nothing is injected without one). Each fault strikes
// one executor of the process — a pipeline stage and tensor-parallel rank, or any when the plan
// names none — at one of its steps: that executor's Nth step since the process started, from 1.
// A step is one call that runs the model (run, launch, logits, forward_hidden).
//
// FaultInjector applies a plan: it counts each executor's steps and says what the next one
// suffers. The acting (ending the process, throwing, sleeping) is the caller's:
// FaultInjectingBackend's, and the node's for heartbeats.
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace troupe {

struct Fault {
  enum class Action {
    Crash,           // the process ends at once, as after kill -9
    DeviceError,     // the step fails with a CUDA-like error
    Delay,           // the step (so every message after it) is late
    DropHeartbeats,  // the node answers no heartbeat for a while, as behind a cut link
  };
  Action action = Action::Crash;
  int64_t at_step = 1;
  std::optional<int32_t> stage, rank;      // the executor struck; any when not given
  bool sticky = false;                     // DeviceError: every later step fails too (a poisoned context)
  int64_t steps = 1;                       // Delay: this many steps from at_step
  std::chrono::milliseconds delay{0};      // Delay: each by this
  std::chrono::milliseconds duration{0};   // DropHeartbeats: for this long from at_step
  int line = 0;                            // in the plan file, for the log
};

struct FaultPlan {
  std::vector<Fault> faults;
};

std::string_view fault_action_name(Fault::Action action);  // "crash", "device_error", "delay", "drop_heartbeats"

// What one step suffers.
struct StepFault {
  enum class Kind { None, Crash, Error, ContextLost, Delay };
  Kind kind = Kind::None;
  std::chrono::milliseconds delay{0};
  std::string message;  // what the log and the error say: the fault, its line, the step
};

// Thread-safe: a process's executors step on threads of their own, and the node asks about
// heartbeats on its own.
class FaultInjector {
 public:
  using Clock = std::chrono::steady_clock;
  explicit FaultInjector(FaultPlan plan);

  // Counts a step of executor (stage, rank) and says what it suffers (the first matching fault
  // that strikes; delays of several faults do not add up).
  StepFault before_step(int32_t stage, int32_t rank, Clock::time_point now);
  // Whether a DropHeartbeats fault has struck and its time is not over.
  bool drops_heartbeats(Clock::time_point now) const;

 private:
  mutable std::mutex mu_;
  FaultPlan plan_;
  std::map<std::pair<int32_t, int32_t>, int64_t> steps_;  // by (stage, rank): steps counted
  std::set<std::pair<int32_t, int32_t>> poisoned_;        // executors a sticky error struck
  std::vector<std::optional<Clock::time_point>> dropping_since_;  // per fault
};

}  // namespace troupe
