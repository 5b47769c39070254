#include "engine/cluster/fault_plan_file.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>

#include "engine/cluster/cluster_config.h"  // seconds_as_duration
#include "engine/cluster/config_error.h"
#include "engine/cluster/toml_reader.h"

namespace troupe {
namespace {

std::optional<Fault::Action> parse_action(std::string_view name) {
  for (Fault::Action a : {Fault::Action::Crash, Fault::Action::DeviceError, Fault::Action::Delay,
                          Fault::Action::DropHeartbeats})
    if (fault_action_name(a) == name) return a;
  return std::nullopt;
}

// The keys each action reads beyond action, at_step, stage and rank.
std::vector<std::string_view> own_keys(Fault::Action action) {
  switch (action) {
    case Fault::Action::DeviceError: return {"sticky"};
    case Fault::Action::Delay: return {"steps", "delay_ms"};
    case Fault::Action::DropHeartbeats: return {"duration_s"};
    case Fault::Action::Crash: return {};
  }
  return {};
}

Fault read_fault(const TomlTable& t) {
  Fault f;
  f.line = t.line();
  const std::string action = t.required_string("action");
  const auto parsed = parse_action(action);
  if (!parsed) t.fail("action", "'" + action + "' is not one of crash, device_error, delay, drop_heartbeats");
  f.action = *parsed;
  const std::vector<std::string_view> own = own_keys(f.action);
  for (std::string_view key : {"sticky", "steps", "delay_ms", "duration_s"})
    if (t.has(key) && std::find(own.begin(), own.end(), key) == own.end())
      t.fail(key, "a " + action + " fault does not use it");
  f.at_step = t.int_or("at_step", 1, 1, INT64_MAX);
  if (t.has("stage")) f.stage = static_cast<int32_t>(t.int_or("stage", 0, 0, INT32_MAX));
  if (t.has("rank")) f.rank = static_cast<int32_t>(t.int_or("rank", 0, 0, INT32_MAX));
  f.sticky = t.bool_or("sticky", false);
  f.steps = t.int_or("steps", 1, 1, INT64_MAX);
  f.delay = std::chrono::milliseconds(t.int_or("delay_ms", 0, 0, 3'600'000));
  if (f.action == Fault::Action::Delay && f.delay.count() == 0) t.fail("delay_ms", "missing: how late each step is");
  f.duration = seconds_as_duration(t.number_or("duration_s", 0, 0.0));
  if (f.action == Fault::Action::DropHeartbeats && !t.has("duration_s"))
    t.fail("duration_s", "missing: how long the heartbeats are dropped");
  return f;
}

}  // namespace

FaultPlan parse_fault_plan(std::string_view text, const std::filesystem::path& source) {
  const toml::table root = parse_toml(text, source);
  const TomlTable top(root, "", source, {"fault"});
  const toml::array* faults = top.table_array("fault");
  if (faults == nullptr || faults->empty()) throw ConfigError(source, 0, "fault", "no [[fault]] tables: the plan is empty");
  FaultPlan plan;
  for (size_t i = 0; i < faults->size(); ++i)
    plan.faults.push_back(read_fault(TomlTable(*(*faults)[i].as_table(), "fault[" + std::to_string(i) + "]", source,
                                               {"action", "at_step", "stage", "rank", "sticky", "steps", "delay_ms",
                                                "duration_s"})));
  return plan;
}

FaultPlan load_fault_plan(const std::filesystem::path& file) {
  return parse_fault_plan(read_config_file(file, "fault plan"), file);
}

}  // namespace troupe
