#pragma once
// LoadError: the one error type for anything wrong in a model folder or a file it holds.
// Its message always starts with the file it is about, so the CLI can print one clear line.
#include <filesystem>
#include <stdexcept>
#include <string>

namespace troupe {

class LoadError : public std::runtime_error {
 public:
  LoadError(const std::filesystem::path& file, const std::string& what);
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
};

}  // namespace troupe
