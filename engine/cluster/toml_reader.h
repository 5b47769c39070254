#pragma once
// TomlTable: one table of a cluster file, read strictly. Every key must be one the schema knows
// (a typo is an error, never a silent default), every value of its type and range; each problem
// is a ConfigError naming the file, the line (toml++ keeps source positions) and the key's full
// path, e.g. "node[1].executors". Only the cluster parser includes this (toml++ stays private).
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

namespace troupe {

class TomlTable {
 public:
  // Throws ConfigError at the first key not in `known`, suggesting the nearest known one.
  TomlTable(const toml::table& table, std::string path, const std::filesystem::path& file,
            std::initializer_list<std::string_view> known);

  int line() const { return line_; }                  // the table's header; 0 for the root
  int line_of(std::string_view key) const;            // the key's line, else the table's
  std::string key_path(std::string_view key) const;   // "model.path", "node[1].roles"
  bool has(std::string_view key) const { return table_.contains(key); }

  // Absent keys give the fallback (or nullopt); a present key of the wrong type or range throws.
  std::optional<std::string> string(std::string_view key) const;
  std::string string_or(std::string_view key, std::string fallback) const;
  std::string required_string(std::string_view key) const;
  int64_t int_or(std::string_view key, int64_t fallback, int64_t min, int64_t max) const;
  double number_or(std::string_view key, double fallback, double min_exclusive) const;
  bool bool_or(std::string_view key, bool fallback) const;
  std::vector<std::string> string_list(std::string_view key) const;
  std::vector<int64_t> int_list(std::string_view key, int64_t min, int64_t max) const;
  const toml::table* table(std::string_view key) const;        // nullptr when absent
  const toml::array* table_array(std::string_view key) const;  // [[key]]; nullptr when absent

  // Notes the table's line under its path and each key's under its full path (ClusterConfig::lines).
  void record_lines(std::map<std::string, int, std::less<>>& lines) const;

  [[noreturn]] void fail(std::string_view key, const std::string& what) const;
  [[noreturn]] void fail_table(const std::string& what) const;  // about the table as a whole

 private:
  const toml::node* value(std::string_view key, toml::node_type want, const char* want_name) const;

  const toml::table& table_;
  std::string path_;
  const std::filesystem::path& file_;
  int line_;
};

// A whole file's text (ConfigError "cannot open the <what>" when it cannot be read), and that text
// parsed (a syntax error is a ConfigError at its line).
std::string read_config_file(const std::filesystem::path& file, const std::string& what);
toml::table parse_toml(std::string_view text, const std::filesystem::path& source);

// "a string", "an integer", ...: what a wrong value was, for error messages.
std::string toml_type_name(const toml::node& node);

// The line a node starts on, or `fallback` when toml++ kept no position for it.
int toml_line(const toml::node& node, int fallback);

}  // namespace troupe
