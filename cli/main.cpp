// troupe: one binary, one subcommand per job. Any error ends in one line on stderr and a non-zero
// exit status: 1 for a bad model folder or file (a cluster file included), 2 for bad arguments.
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli/bench_command.h"
#include "cli/generate_command.h"
#include "cli/node_command.h"
#include "cli/plan_command.h"
#include "cli/serve_command.h"
#include "cli/tokenize_command.h"
#include "cli/vllm_flags.h"
#include "engine/cluster/config_error.h"
#include "engine/load_error.h"
#include "engine/template/template_error.h"
#include "engine/version.h"

int main(int argc, char** argv) {
  // Logs go to stderr so stdout carries only results (text, JSON).
  spdlog::set_default_logger(spdlog::stderr_color_mt("troupe"));
  spdlog::set_pattern("%H:%M:%S.%e %^%l%$ %v");

  CLI::App app("Troupe: an LLM serving runtime (OpenAI-compatible HTTP, continuous batching, paged KV cache)",
               "troupe");
  app.require_subcommand(1);
  app.set_version_flag("--version", troupe::kTroupeVersion, "print the version and exit (vLLM: vllm --version)");
  int exit_code = 0;
  troupe::cli::register_generate(app, exit_code);
  troupe::cli::register_tokenize(app, exit_code);
  troupe::cli::register_node(app, exit_code);
  troupe::cli::register_serve(app, exit_code);
  troupe::cli::register_bench(app, exit_code);
  troupe::cli::register_plan(app, exit_code);
  std::vector<std::string> args(argv, argv + argc);
  for (std::string& a : args) a = troupe::cli::long_form_of_vllm_flag(a);
  std::vector<char*> arg_ptrs;
  for (std::string& a : args) arg_ptrs.push_back(a.data());
  try {
    app.parse(static_cast<int>(arg_ptrs.size()), arg_ptrs.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const troupe::LoadError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const troupe::ConfigError& e) {  // a cluster file: file:line: key: what
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const troupe::TemplateError& e) {
    std::cerr << "error: chat template: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  return exit_code;
}
