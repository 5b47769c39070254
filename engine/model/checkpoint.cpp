#include "engine/model/checkpoint.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/load_error.h"

namespace troupe {
namespace fs = std::filesystem;

Checkpoint Checkpoint::open(const fs::path& model_dir) {
  Checkpoint c;
  const fs::path index_path = model_dir / "model.safetensors.index.json";
  const fs::path single_path = model_dir / "model.safetensors";
  if (fs::exists(index_path)) {
    c.source_ = index_path;
    std::ifstream in(index_path);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
      throw LoadError(index_path, std::string("invalid JSON: ") + e.what());
    }
    auto wm = j.find("weight_map");
    if (!j.is_object() || wm == j.end() || !wm->is_object())
      throw LoadError(index_path, "missing key 'weight_map'");
    std::map<std::string, size_t> shard_of_file;
    std::vector<std::pair<std::string, std::string>> wanted;  // tensor, shard file
    for (const auto& [name, file] : wm->items()) {
      if (!file.is_string()) throw LoadError(index_path, "weight_map['" + name + "'] must be a file name");
      const std::string f = file.get<std::string>();
      if (f.find('/') != std::string::npos)
        throw LoadError(index_path, "weight_map['" + name + "'] names a path outside the folder: " + f);
      wanted.emplace_back(name, f);
      if (!shard_of_file.count(f)) {
        if (!fs::exists(model_dir / f))
          throw LoadError(model_dir / f, "missing shard (named by model.safetensors.index.json)");
        shard_of_file[f] = c.files_.size();
        c.files_.push_back(SafetensorsFile::open(model_dir / f));
      }
    }
    for (const auto& [name, f] : wanted) {
      const TensorView* t = c.files_[shard_of_file[f]].find(name);
      if (t == nullptr)
        throw LoadError(model_dir / f, "missing tensor '" + name + "' (the index says it is here)");
      c.index_[name] = t;
    }
  } else if (fs::exists(single_path)) {
    c.source_ = single_path;
    c.files_.push_back(SafetensorsFile::open(single_path));
    for (const auto& [name, t] : c.files_.back().tensors()) c.index_[name] = &t;
  } else {
    throw LoadError(model_dir, "no model.safetensors or model.safetensors.index.json "
                               "(use --load-format dummy for random weights)");
  }
  return c;
}

bool Checkpoint::contains(const std::string& name) const { return index_.count(name) != 0; }

const TensorView& Checkpoint::tensor(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw LoadError(source_, "missing tensor '" + name + "'");
  return *it->second;
}

}  // namespace troupe
