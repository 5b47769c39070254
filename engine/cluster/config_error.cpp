#include "engine/cluster/config_error.h"

namespace troupe {
namespace {

std::string format(const std::filesystem::path& file, int line, const std::string& key, const std::string& what) {
  std::string s = file.string();
  if (line > 0) s += ":" + std::to_string(line);
  s += ": ";
  if (!key.empty()) s += key + ": ";
  return s + what;
}

}  // namespace

ConfigError::ConfigError(std::filesystem::path file, int line, std::string key, const std::string& what)
    : std::runtime_error(format(file, line, key, what)),
      file_(std::move(file)),
      line_(line),
      key_(std::move(key)),
      reason_(what) {}

}  // namespace troupe
