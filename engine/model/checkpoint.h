#pragma once
// Checkpoint: the weights of a model folder, either one model.safetensors or the shards named by
// model.safetensors.index.json. Every shard is opened and checked up front.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "engine/model/safetensors.h"

namespace troupe {

class Checkpoint {
 public:
  static Checkpoint open(const std::filesystem::path& model_dir);  // throws LoadError

  // The tensor or a LoadError naming the file that should have held it.
  const TensorView& tensor(const std::string& name) const;
  bool contains(const std::string& name) const;
  size_t num_tensors() const { return index_.size(); }

 private:
  std::vector<SafetensorsFile> files_;
  std::map<std::string, const TensorView*> index_;
  std::filesystem::path source_;  // the index file or the single safetensors file
};

}  // namespace troupe
