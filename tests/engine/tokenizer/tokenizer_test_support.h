#pragma once
// Shared by the tokenizer tests: the real tokenizer files (fetched by scripts/fetch_test_data.sh into
// TROUPE_CACHE_DIR) loaded once per test binary, the Hugging Face fixtures, and readable printing.
#include <gtest/gtest.h>
#include <unistd.h>  // getpid

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "engine/text/utf8.h"

namespace troupe::test {

inline std::filesystem::path real_tokenizer_path(const std::string& name) {
  return std::filesystem::path(TROUPE_CACHE_DIR) / "tokenizers" / name / "tokenizer.json";
}

// nullptr, with a test failure saying how to get the file, when the file is missing: these tests
// must never pass by skipping.
inline const Tokenizer* real_tokenizer(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> loaded;
  if (auto it = loaded.find(name); it != loaded.end()) return it->second.get();
  const auto path = real_tokenizer_path(name);
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << path << " is missing: run scripts/fetch_test_data.sh to fetch the real tokenizer files";
    return nullptr;
  }
  auto tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_file(path));
  return loaded.emplace(name, std::move(tokenizer)).first->second.get();
}

inline nlohmann::json hf_fixture(const std::string& name) {
  const auto path = std::filesystem::path(TROUPE_FIXTURES_DIR) / "tokenizer" / (name + ".json");
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << path << " is missing (expected ids from Hugging Face tokenizers)";
    return nlohmann::json::object();
  }
  return nlohmann::json::parse(in);
}

// JSON-quoted, so control characters and odd whitespace show in a failure message.
inline std::string quoted(const std::string& text) {
  return nlohmann::json(utf8::to_valid(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline std::string ids_string(const std::vector<int32_t>& ids) { return nlohmann::json(ids).dump(); }

// A scratch file that is removed when the test ends.
class TempFile {
 public:
  // ctest runs tests in parallel processes: the pid and a counter keep the names apart.
  TempFile(const std::string& name, const std::string& contents)
      : path_(std::filesystem::temp_directory_path() /
              ("troupe_tokenizer_" + std::to_string(::getpid()) + "_" + std::to_string(next_serial()) + "_" + name)) {
    std::ofstream(path_, std::ios::binary) << contents;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  static int next_serial() {
    static int serial = 0;
    return serial++;
  }
  std::filesystem::path path_;
};

}  // namespace troupe::test
