#pragma once
// Options every command that loads a model shares (--model, --load-format, --threads), and the
// load itself with progress on stderr.
#include <cstdint>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/model_folder.h"

namespace troupe::cli {

struct ModelOptions {
  std::string model;            // a Hugging Face folder
  std::string load_format = "auto";
  uint64_t dummy_seed = 0;
  int threads = 0;              // 0: every core
};

void add_model_options(CLI::App& cmd, ModelOptions& o, bool model_required);

struct LoadedModel {
  ModelFolder folder;
  std::shared_ptr<CpuModel> model;  // null when the weights live in another process
};

// Opens the folder and (unless weights is false: the model runs in another process) loads the
// weights, logging what it does; throws LoadError.
LoadedModel load_model(const ModelOptions& o, bool weights = true);

// The folder the README's demo uses when no --model is given (built by scripts/fetch_test_data.sh).
std::string demo_model_dir();

}  // namespace troupe::cli
