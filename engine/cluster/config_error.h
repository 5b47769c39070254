#pragma once
// ConfigError: anything wrong in a cluster file. Like LoadError it starts with the file, then the
// line and the key, so a person can jump to the spot:
//   cluster.toml:14: node[1].roles: unknown role 'gatway' (known: gateway, scheduler, ...)
// line 0 means no line applies (the file cannot be read); key is empty for TOML syntax errors.
#include <filesystem>
#include <stdexcept>
#include <string>

namespace troupe {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::filesystem::path file, int line, std::string key, const std::string& what);

  const std::filesystem::path& file() const { return file_; }
  int line() const { return line_; }
  const std::string& key() const { return key_; }   // e.g. "node[1].roles", "model.tensor_parallel"
  const std::string& reason() const { return reason_; }  // the message without file, line and key

 private:
  std::filesystem::path file_;
  int line_;
  std::string key_;
  std::string reason_;
};

}  // namespace troupe
