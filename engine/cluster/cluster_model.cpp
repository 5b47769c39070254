#include "engine/cluster/cluster_model.h"

#include <algorithm>
#include <vector>

#include "engine/model/model_args.h"

namespace troupe {
namespace {

std::string preset_names(const std::filesystem::path& presets_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(presets_dir, ec))
    if (std::filesystem::exists(entry.path() / "config.json")) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
  return s.empty() ? "none" : s;
}

}  // namespace

ClusterModel load_cluster_model(const ClusterConfig& c, const std::filesystem::path& presets_dir) {
  namespace fs = std::filesystem;
  const fs::path written(c.model.path);
  const fs::path folder = written.is_absolute() ? written : c.file.parent_path() / written;
  ClusterModel m;
  if (fs::is_directory(folder)) {
    m.dir = folder;
  } else if (written.has_filename() && written == written.filename() &&
             fs::exists(presets_dir / written / "config.json")) {
    m.dir = presets_dir / written;
    m.preset = true;
    if (c.model.load_format != "dummy")
      throw c.error("model.load_format", "model.path '" + c.model.path +
                                             "' is a preset (config.json, no weights): set load_format = \"dummy\"");
  } else {
    throw c.error("model.path", "'" + c.model.path + "' is neither a model folder (no " + folder.string() +
                                    ") nor a preset in " + presets_dir.string() + " (" + preset_names(presets_dir) + ")");
  }
  m.config = load_model_config(m.dir / "config.json");
  // From here on every reader of the config (the head's gateway and scheduler, each GPU stage's
  // buffers, the plan) sees the context the file asks for.
  if (const std::string why = apply_max_model_len(c.model.max_model_len, m.config); !why.empty())
    throw c.error("model.max_model_len", why);
  return m;
}

}  // namespace troupe
