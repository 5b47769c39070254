#include "engine/cluster/toml_reader.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "engine/cluster/config_error.h"

namespace troupe {
namespace {

// Levenshtein distance, for "did you mean": keys are short, so the quadratic table is nothing.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string join(std::initializer_list<std::string_view> words) {
  std::string s;
  for (std::string_view w : words) s += (s.empty() ? "" : ", ") + std::string(w);
  return s;
}

}  // namespace

std::string toml_type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

int toml_line(const toml::node& node, int fallback) {
  const auto line = static_cast<int>(node.source().begin.line);
  return line > 0 ? line : fallback;
}

TomlTable::TomlTable(const toml::table& table, std::string path, const std::filesystem::path& file,
                     std::initializer_list<std::string_view> known)
    : table_(table), path_(std::move(path)), file_(file), line_(toml_line(table, 0)) {
  for (const auto& [key, node] : table) {
    const std::string_view k = key.str();
    if (std::find(known.begin(), known.end(), k) != known.end()) continue;
    std::string hint;
    size_t nearest = 3;  // suggest only a key within two edits, the nearest one
    for (std::string_view candidate : known)
      if (const size_t d = edit_distance(k, candidate); d < nearest) {
        nearest = d;
        hint = "did you mean '" + std::string(candidate) + "'? ";
      }
    fail(k, "unknown key (" + hint + "known: " + join(known) + ")");
  }
}

int TomlTable::line_of(std::string_view key) const {
  const toml::node* n = table_.get(key);
  return n == nullptr ? line_ : toml_line(*n, line_);
}

std::string TomlTable::key_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void TomlTable::record_lines(std::map<std::string, int, std::less<>>& lines) const {
  if (!path_.empty()) lines[path_] = line_;
  for (const auto& [key, node] : table_) lines[key_path(key.str())] = toml_line(node, line_);
}

void TomlTable::fail(std::string_view key, const std::string& what) const {
  throw ConfigError(file_, line_of(key), key_path(key), what);
}

void TomlTable::fail_table(const std::string& what) const { throw ConfigError(file_, line_, path_, what); }

const toml::node* TomlTable::value(std::string_view key, toml::node_type want, const char* want_name) const {
  const toml::node* n = table_.get(key);
  if (n == nullptr) return nullptr;
  if (n->type() != want) fail(key, std::string("expected ") + want_name + ", got " + toml_type_name(*n));
  return n;
}

std::optional<std::string> TomlTable::string(std::string_view key) const {
  const toml::node* n = value(key, toml::node_type::string, "a string");
  if (n == nullptr) return std::nullopt;
  return n->as_string()->get();
}

std::string TomlTable::string_or(std::string_view key, std::string fallback) const {
  return string(key).value_or(std::move(fallback));
}

std::string TomlTable::required_string(std::string_view key) const {
  std::optional<std::string> s = string(key);
  if (!s) throw ConfigError(file_, line_, key_path(key), "missing (required)");
  if (s->empty()) fail(key, "must not be empty");
  return *s;
}

int64_t TomlTable::int_or(std::string_view key, int64_t fallback, int64_t min, int64_t max) const {
  const toml::node* n = value(key, toml::node_type::integer, "an integer");
  if (n == nullptr) return fallback;
  const int64_t v = n->as_integer()->get();
  if (v < min || v > max)
    fail(key, std::to_string(v) + " is out of range (" + std::to_string(min) + " to " + std::to_string(max) + ")");
  return v;
}

double TomlTable::number_or(std::string_view key, double fallback, double min_exclusive) const {
  const toml::node* n = table_.get(key);
  if (n == nullptr) return fallback;
  double v = 0;
  if (n->is_integer()) {
    v = static_cast<double>(n->as_integer()->get());
  } else if (n->is_floating_point()) {
    v = n->as_floating_point()->get();
  } else {
    fail(key, "expected a number, got " + toml_type_name(*n));
  }
  if (!(v > min_exclusive)) fail(key, "must be greater than " + std::to_string(min_exclusive));
  return v;
}

bool TomlTable::bool_or(std::string_view key, bool fallback) const {
  const toml::node* n = value(key, toml::node_type::boolean, "true or false");
  return n == nullptr ? fallback : n->as_boolean()->get();
}

std::vector<std::string> TomlTable::string_list(std::string_view key) const {
  std::vector<std::string> out;
  const toml::node* n = value(key, toml::node_type::array, "an array of strings");
  if (n == nullptr) return out;
  const toml::array& a = *n->as_array();
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_string())
      throw ConfigError(file_, toml_line(a[i], line_of(key)), key_path(key) + "[" + std::to_string(i) + "]",
                        "expected a string, got " + toml_type_name(a[i]));
    out.push_back(a[i].as_string()->get());
  }
  return out;
}

std::vector<int64_t> TomlTable::int_list(std::string_view key, int64_t min, int64_t max) const {
  std::vector<int64_t> out;
  const toml::node* n = value(key, toml::node_type::array, "an array of integers");
  if (n == nullptr) return out;
  const toml::array& a = *n->as_array();
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string where = key_path(key) + "[" + std::to_string(i) + "]";
    const int line = toml_line(a[i], line_of(key));
    if (!a[i].is_integer()) throw ConfigError(file_, line, where, "expected an integer, got " + toml_type_name(a[i]));
    const int64_t v = a[i].as_integer()->get();
    if (v < min || v > max)
      throw ConfigError(file_, line, where,
                        std::to_string(v) + " is out of range (" + std::to_string(min) + " to " + std::to_string(max) + ")");
    out.push_back(v);
  }
  return out;
}

const toml::table* TomlTable::table(std::string_view key) const {
  const toml::node* n = value(key, toml::node_type::table, "a table");
  return n == nullptr ? nullptr : n->as_table();
}

const toml::array* TomlTable::table_array(std::string_view key) const {
  const toml::node* n = table_.get(key);
  if (n == nullptr) return nullptr;
  const toml::array* a = n->as_array();
  if (a == nullptr || !a->is_array_of_tables())
    fail(key, "expected an array of tables ([[" + std::string(key) + "]]), got " + toml_type_name(*n));
  return a;
}

std::string read_config_file(const std::filesystem::path& file, const std::string& what) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(file, 0, "", "cannot open the " + what);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

toml::table parse_toml(std::string_view text, const std::filesystem::path& source) {
  try {
    return toml::parse(text, source.string());
  } catch (const toml::parse_error& e) {
    throw ConfigError(source, static_cast<int>(e.source().begin.line), "", "TOML syntax: " + std::string(e.description()));
  }
}

}  // namespace troupe
