#pragma once
// How Python prints values, byte for byte: str() for `{{ x }}`, repr() inside containers, and
// json.dumps for transformers' `tojson` filter (which is json.dumps(x, ensure_ascii=False) with
// Python's default ", " / ": " separators, not jinja2's HTML-escaping tojson).
#include <optional>
#include <string>

#include "engine/template/value.h"

namespace troupe::jinja {

std::string py_float_repr(double d);
void py_str(const Value& v, std::string& out);
std::string py_str(const Value& v);
std::string py_repr(const Value& v);

struct JsonDumpOptions {
  std::optional<std::string> indent;  // json.dumps(indent=...): spaces, or the given string
  std::string item_separator = ", ";  // becomes "," when indent is set, as in Python
  std::string key_separator = ": ";
  bool ensure_ascii = false;
  bool sort_keys = false;
};
std::string py_json_dumps(const Value& v, const JsonDumpOptions& options);

}  // namespace troupe::jinja
