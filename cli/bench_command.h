#pragma once
#include <CLI/CLI.hpp>

namespace troupe::cli {
// Registers `troupe bench`; when it runs, its exit status lands in exit_code.
void register_bench(CLI::App& app, int& exit_code);
}  // namespace troupe::cli
