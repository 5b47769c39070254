#include "engine/template/py_format.h"

#include <utf8proc.h>  // utf8proc_category: which code points repr() escapes

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "engine/template/utf8.h"
#include "engine/text/utf8.h"

namespace troupe::jinja {

// Python's repr(float): the shortest digits that round-trip, in fixed notation when the decimal
// exponent is in [-4, 16), else scientific with at least two exponent digits ("1e+16").
std::string py_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  size_t e = sci.find('e');
  int exponent = std::stoi(sci.substr(e + 1));
  std::string digits;
  for (char c : sci.substr(0, e))
    if (c != '.') digits.push_back(c);
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<size_t>(exponent) + 1 >= digits.size()) {
      out += digits + std::string(static_cast<size_t>(exponent) + 1 - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(exponent) + 1) + "." +
             digits.substr(static_cast<size_t>(exponent) + 1);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) {
    out += '.';
    out += digits.substr(1);
  }
  char exp[16];
  std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out + exp;
}

namespace {

bool py_isprintable(char32_t c) {
  if (c == ' ') return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP: case UTF8PROC_CATEGORY_ZS:
      return false;
    default:
      return true;
  }
}

void repr_string(const std::string& s, std::string& out) {
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  out.push_back(quote);
  for (char32_t c : utf8_decode(s)) {
    char buf[16];
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (py_isprintable(c)) {
      utf8::append(out, c);
    } else {
      if (c < 0x100) std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      else if (c < 0x10000) std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      else std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(c));
      out += buf;
    }
  }
  out.push_back(quote);
}

void repr_into(const Value& v, std::string& out) {
  switch (v.kind()) {
    case Value::Kind::undefined: out += "Undefined"; return;
    case Value::Kind::string: repr_string(v.str(), out); return;
    default: py_str(v, out);
  }
}

}  // namespace

void py_str(const Value& v, std::string& out) {
  switch (v.kind()) {
    case Value::Kind::undefined: return;
    case Value::Kind::none: out += "None"; return;
    case Value::Kind::boolean: out += v.boolean() ? "True" : "False"; return;
    case Value::Kind::integer: out += std::to_string(v.integer()); return;
    case Value::Kind::floating: out += py_float_repr(v.number()); return;
    case Value::Kind::string: out += v.str(); return;
    case Value::Kind::list: {
      out.push_back('[');
      bool first = true;
      for (const Value& item : v.list()) {
        if (!first) out += ", ";
        first = false;
        repr_into(item, out);
      }
      out.push_back(']');
      return;
    }
    case Value::Kind::dict:
    case Value::Kind::ns: {
      const Dict& d = v.kind() == Value::Kind::dict ? v.dict() : v.ns().attrs;
      if (v.kind() == Value::Kind::ns) out += "<Namespace ";
      out.push_back('{');
      bool first = true;
      for (const auto& [k, item] : d) {
        if (!first) out += ", ";
        first = false;
        repr_string(k, out);
        out += ": ";
        repr_into(item, out);
      }
      out.push_back('}');
      if (v.kind() == Value::Kind::ns) out.push_back('>');
      return;
    }
    case Value::Kind::function: out += "<function " + v.fn().name + ">"; return;
  }
}

std::string py_str(const Value& v) {
  std::string out;
  py_str(v, out);
  return out;
}

std::string py_repr(const Value& v) {
  std::string out;
  repr_into(v, out);
  return out;
}

namespace {

void json_string(const std::string& s, bool ensure_ascii, std::string& out) {
  out.push_back('"');
  for (char32_t c : utf8_decode(s)) {
    char buf[16];
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (c < 0x20 || (ensure_ascii && c >= 0x7F && c < 0x10000)) {
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else if (ensure_ascii && c >= 0x10000) {
      unsigned v = static_cast<unsigned>(c) - 0x10000;
      std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      out += buf;
    } else {
      utf8::append(out, c);
    }
  }
  out.push_back('"');
}

struct JsonWriter {
  const JsonDumpOptions& options;
  std::string out;

  void newline(int depth) {
    if (!options.indent) return;
    out.push_back('\n');
    for (int i = 0; i < depth; ++i) out += *options.indent;
  }

  void write(const Value& v, int depth) {
    switch (v.kind()) {
      case Value::Kind::none: out += "null"; return;
      case Value::Kind::boolean: out += v.boolean() ? "true" : "false"; return;
      case Value::Kind::integer: out += std::to_string(v.integer()); return;
      case Value::Kind::floating: {
        double d = v.number();
        if (std::isnan(d)) out += "NaN";
        else if (std::isinf(d)) out += d < 0 ? "-Infinity" : "Infinity";
        else out += py_float_repr(d);
        return;
      }
      case Value::Kind::string: json_string(v.str(), options.ensure_ascii, out); return;
      case Value::Kind::list: {
        if (v.list().empty()) {
          out += "[]";
          return;
        }
        out.push_back('[');
        bool first = true;
        for (const Value& item : v.list()) {
          if (!first) out += options.item_separator;
          first = false;
          newline(depth + 1);
          write(item, depth + 1);
        }
        newline(depth);
        out.push_back(']');
        return;
      }
      case Value::Kind::dict: {
        if (v.dict().size() == 0) {
          out += "{}";
          return;
        }
        std::vector<const Dict::Entry*> entries;
        for (const auto& e : v.dict()) entries.push_back(&e);
        if (options.sort_keys)
          std::stable_sort(entries.begin(), entries.end(),
                           [](auto* a, auto* b) { return a->first < b->first; });
        out.push_back('{');
        bool first = true;
        for (const Dict::Entry* e : entries) {
          if (!first) out += options.item_separator;
          first = false;
          newline(depth + 1);
          json_string(e->first, options.ensure_ascii, out);
          out += options.key_separator;
          write(e->second, depth + 1);
        }
        newline(depth);
        out.push_back('}');
        return;
      }
      default:
        throw RenderError("Object of type " + type_name(v) + " is not JSON serializable");
    }
  }
};

}  // namespace

std::string py_json_dumps(const Value& v, const JsonDumpOptions& options) {
  JsonWriter writer{options, {}};
  writer.write(v, 0);
  return std::move(writer.out);
}

}  // namespace troupe::jinja
