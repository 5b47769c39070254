#pragma once
#include <CLI/CLI.hpp>

namespace troupe::cli {
// Registers `troupe plan`; when it runs, its exit status lands in exit_code.
void register_plan(CLI::App& app, int& exit_code);
}  // namespace troupe::cli
