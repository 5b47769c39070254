#include "engine/cluster/config_error.h"

namespace troupe {
namespace {

std::string format(const std::filesystem::path& file, int line, const std::string& key, const std::string& what) {
  // append() rather than operator+: GCC 12 warns (-Wrestrict, a false positive) on the latter here.
  std::string s = file.string();
  if (line > 0) s.append(":").append(std::to_string(line));
  s.append(": ");
  if (!key.empty()) s.append(key).append(": ");
  return s.append(what);
}

}  // namespace

ConfigError::ConfigError(std::filesystem::path file, int line, std::string key, const std::string& what)
    : std::runtime_error(format(file, line, key, what)),
      file_(std::move(file)),
      line_(line),
      key_(std::move(key)),
      reason_(what) {}

}  // namespace troupe
