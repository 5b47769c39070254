// `troupe plan --config FILE [--json]`: reads a cluster file and its model's config.json, checks
// both, and prints where every executor would go and what it would hold — starting nothing.
// A bad file ends in one line naming file:line: key (ConfigError, exit 1 in main).
#include "cli/plan_command.h"

#include <iostream>
#include <memory>

#include "engine/cluster/cluster_config.h"
#include "engine/cluster/cluster_model.h"
#include "engine/cluster/placement.h"
#include "engine/cluster/placement_report.h"

namespace troupe::cli {
namespace {

struct PlanOptions {
  std::string config;
  bool json = false;
  std::string presets_dir = TROUPE_PRESETS_DIR;
};

int run_plan(const PlanOptions& o) {
  const ClusterConfig config = load_cluster_config(o.config);
  const ClusterModel model = load_cluster_model(config, o.presets_dir);
  const Placement placement = place(config, model.config);
  if (o.json) {
    std::cout << placement_json(config, model, placement).dump(2) << std::endl;
  } else {
    std::cout << placement_table(config, model, placement) << std::flush;
  }
  return 0;
}

}  // namespace

void register_plan(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<PlanOptions>();
  CLI::App* cmd = app.add_subcommand(
      "plan", "Check a cluster file and print where each executor goes and what it holds (starts nothing)");
  cmd->add_option("--config", o->config, "the cluster file (TOML; config/README.md)")->required();
  cmd->add_flag("--json", o->json, "print JSON for scripts instead of a table");
  cmd->add_option("--presets-dir", o->presets_dir, "where model.path finds preset names")->capture_default_str();
  cmd->callback([o, &exit_code] { exit_code = run_plan(*o); });
}

}  // namespace troupe::cli
