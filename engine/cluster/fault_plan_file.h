#pragma once
// A fault plan file (`--fault-plan FILE`, for tests and drills): TOML, one [[fault]] table per
// fault, read as strictly as a cluster file — an unknown key, or a key the fault's action does
// not use, is a ConfigError naming the file, line and key. config/README.md documents the keys:
//
//   [[fault]]
//   action = "device_error"   # crash | device_error | delay | drop_heartbeats
//   at_step = 30              # the executor's step it strikes at (from 1; default 1)
//   stage = 1                 # the executor: pipeline stage (global with data_parallel) and TP rank (default: any)
//   rank = 0
//   sticky = true             # device_error: every later step fails too
//   steps = 5                 # delay: this many steps from at_step ...
//   delay_ms = 200            # ... each this late
//   duration_s = 10           # drop_heartbeats: for this long
#include <filesystem>
#include <string_view>

#include "engine/runtime/fault_plan.h"

namespace troupe {

FaultPlan load_fault_plan(const std::filesystem::path& file);
FaultPlan parse_fault_plan(std::string_view toml_text, const std::filesystem::path& source);

}  // namespace troupe
