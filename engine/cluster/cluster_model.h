#pragma once
// The model a cluster file names. model.path is a model folder — absolute, or relative to the
// cluster file's folder, so a file and its models can move together — or, when no such folder
// exists, the name of a preset (presets_dir/<name>/config.json: a known shape without weights,
// so only load_format = "dummy" can run it). Only config.json is read: placement needs shapes,
// not weights or a tokenizer.
#include <filesystem>
#include <string>

#include "engine/cluster/cluster_config.h"
#include "engine/model/model_config.h"

namespace troupe {

struct ClusterModel {
  std::filesystem::path dir;  // the folder holding config.json
  bool preset = false;
  ModelConfig config;
};

// The config has model.max_model_len applied (config.max_position_embeddings). Throws ConfigError
// at model.path / model.load_format when the model cannot be found or run, at model.max_model_len
// when it is longer than the model's context; LoadError naming config.json when that file is broken.
ClusterModel load_cluster_model(const ClusterConfig& config, const std::filesystem::path& presets_dir);

}  // namespace troupe
