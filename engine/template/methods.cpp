#include "engine/template/methods.h"

#include <utf8proc.h>  // utf8proc_category: str.isdigit / isalpha

#include <algorithm>

#include "engine/template/operations.h"
#include "engine/template/py_format.h"
#include "engine/template/utf8.h"
#include "engine/text/utf8.h"

namespace troupe::jinja {
namespace {

const Value* opt_arg(const Args& args, size_t pos, const char* name) {
  const Value* v = args.get(pos, name);
  return v && !v->is_none() && !v->is_undefined() ? v : nullptr;
}

std::string str_arg(const Args& args, size_t pos, const char* name, const char* method) {
  const Value* v = args.get(pos, name);
  if (!v || !v->is_string())
    throw RenderError(std::string(method) + "() argument " + std::to_string(pos + 1) + " must be str, not " +
                      (v ? type_name(*v) : std::string("missing")));
  return v->str();
}

int64_t int_arg(const Args& args, size_t pos, const char* name, int64_t fallback) {
  const Value* v = opt_arg(args, pos, name);
  if (!v) return fallback;
  if (v->kind() != Value::Kind::integer && v->kind() != Value::Kind::boolean)
    throw RenderError(std::string("'") + name + "' must be an integer");
  return v->int_like();
}

std::vector<std::string> split_whitespace(const std::string& s, int64_t maxsplit, bool from_right) {
  std::u32string u = utf8_decode(s);
  std::vector<std::string> parts;
  if (!from_right) {
    size_t i = 0;
    while (true) {
      while (i < u.size() && py_isspace(u[i])) ++i;
      if (i == u.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t e = u.size();
        while (e > i && py_isspace(u[e - 1])) --e;
        parts.push_back(utf8_encode(u.substr(i, e - i)));
        break;
      }
      size_t j = i;
      while (j < u.size() && !py_isspace(u[j])) ++j;
      parts.push_back(utf8_encode(u.substr(i, j - i)));
      i = j;
    }
    return parts;
  }
  size_t e = u.size();
  while (true) {
    while (e > 0 && py_isspace(u[e - 1])) --e;
    if (e == 0) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
      size_t b = 0;
      while (b < e && py_isspace(u[b])) ++b;
      parts.push_back(utf8_encode(u.substr(b, e - b)));
      break;
    }
    size_t b = e;
    while (b > 0 && !py_isspace(u[b - 1])) --b;
    parts.push_back(utf8_encode(u.substr(b, e - b)));
    e = b;
  }
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::vector<std::string> split_on(const std::string& s, const std::string& sep, int64_t maxsplit, bool from_right) {
  if (sep.empty()) throw RenderError("empty separator");
  std::vector<std::string> parts;
  if (!from_right) {
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      size_t hit = s.find(sep, start);
      if (hit == std::string::npos) break;
      parts.push_back(s.substr(start, hit - start));
      start = hit + sep.size();
    }
    parts.push_back(s.substr(start));
    return parts;
  }
  size_t end = s.size();
  while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
    if (end < sep.size()) break;
    size_t hit = s.rfind(sep, end - sep.size());
    if (hit == std::string::npos) break;
    parts.push_back(s.substr(hit + sep.size(), end - hit - sep.size()));
    end = hit;
  }
  parts.push_back(s.substr(0, end));
  std::reverse(parts.begin(), parts.end());
  return parts;
}

Value to_list(const std::vector<std::string>& parts) {
  List out;
  for (const auto& p : parts) out.emplace_back(p);
  return out;
}

// str.startswith / endswith: the prefix may be a tuple (a list here) of alternatives.
bool affix_matches(const std::string& s, const Value& affix, bool at_end) {
  if (affix.is_list()) {
    for (const Value& a : affix.list())
      if (affix_matches(s, a, at_end)) return true;
    return false;
  }
  if (!affix.is_string())
    throw RenderError(std::string(at_end ? "endswith" : "startswith") +
                      " first arg must be str or a tuple of str, not " + type_name(affix));
  const std::string& a = affix.str();
  if (a.size() > s.size()) return false;
  return at_end ? s.compare(s.size() - a.size(), a.size(), a) == 0 : s.compare(0, a.size(), a) == 0;
}

bool all_of_category(const std::string& s, bool (*pred)(utf8proc_category_t)) {
  std::u32string u = utf8_decode(s);
  if (u.empty()) return false;
  return std::all_of(u.begin(), u.end(), [&](char32_t c) { return pred(utf8proc_category(static_cast<utf8proc_int32_t>(c))); });
}
bool is_digit_category(utf8proc_category_t c) { return c == UTF8PROC_CATEGORY_ND; }
bool is_alpha_category(utf8proc_category_t c) { return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO; }
bool is_alnum_category(utf8proc_category_t c) { return is_digit_category(c) || is_alpha_category(c) || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO; }

std::string py_replace(const std::string& s, const std::string& old, const std::string& repl, int64_t count) {
  std::string out;
  if (old.empty()) {  // Python inserts `repl` around every character
    std::u32string u = utf8_decode(s);
    int64_t done = 0;
    for (size_t i = 0; i <= u.size(); ++i) {
      if (count < 0 || done < count) {
        out += repl;
        ++done;
      }
      if (i < u.size()) utf8::append(out, u[i]);
    }
    return out;
  }
  size_t start = 0;
  for (int64_t done = 0; count < 0 || done < count; ++done) {
    size_t hit = s.find(old, start);
    if (hit == std::string::npos) break;
    out.append(s, start, hit - start);
    out += repl;
    start = hit + old.size();
  }
  out.append(s, start, std::string::npos);
  return out;
}

Value bind(const Value& self, const std::string& name, Value (*fn)(const std::string&, const Args&)) {
  std::string s = self.str();
  return Value::function(name, [s = std::move(s), fn](const Args& args) { return fn(s, args); });
}

std::optional<Value> string_method(const Value& self, const std::string& name) {
  using Fn = Value (*)(const std::string&, const Args&);
  static const std::pair<const char*, Fn> kMethods[] = {
      {"strip", [](const std::string& s, const Args& a) -> Value { return py_strip(s, opt_arg(a, 0, "chars") ? str_arg(a, 0, "chars", "strip") : "", true, true); }},
      {"lstrip", [](const std::string& s, const Args& a) -> Value { return py_strip(s, opt_arg(a, 0, "chars") ? str_arg(a, 0, "chars", "lstrip") : "", true, false); }},
      {"rstrip", [](const std::string& s, const Args& a) -> Value { return py_strip(s, opt_arg(a, 0, "chars") ? str_arg(a, 0, "chars", "rstrip") : "", false, true); }},
      {"startswith", [](const std::string& s, const Args& a) -> Value { return affix_matches(s, a.get(0, "prefix") ? *a.get(0, "prefix") : Value(), false); }},
      {"endswith", [](const std::string& s, const Args& a) -> Value { return affix_matches(s, a.get(0, "suffix") ? *a.get(0, "suffix") : Value(), true); }},
      {"split", [](const std::string& s, const Args& a) -> Value {
         const Value* sep = opt_arg(a, 0, "sep");
         int64_t maxsplit = int_arg(a, 1, "maxsplit", -1);
         return to_list(sep ? split_on(s, str_arg(a, 0, "sep", "split"), maxsplit, false) : split_whitespace(s, maxsplit, false));
       }},
      {"rsplit", [](const std::string& s, const Args& a) -> Value {
         const Value* sep = opt_arg(a, 0, "sep");
         int64_t maxsplit = int_arg(a, 1, "maxsplit", -1);
         return to_list(sep ? split_on(s, str_arg(a, 0, "sep", "rsplit"), maxsplit, true) : split_whitespace(s, maxsplit, true));
       }},
      {"splitlines", [](const std::string& s, const Args&) -> Value { return to_list(py_splitlines(s)); }},
      {"upper", [](const std::string& s, const Args&) -> Value { return py_upper(s); }},
      {"lower", [](const std::string& s, const Args&) -> Value { return py_lower(s); }},
      {"title", [](const std::string& s, const Args&) -> Value { return py_title(s); }},
      {"capitalize", [](const std::string& s, const Args&) -> Value { return py_capitalize(s); }},
      {"replace", [](const std::string& s, const Args& a) -> Value {
         return py_replace(s, str_arg(a, 0, "old", "replace"), str_arg(a, 1, "new", "replace"), int_arg(a, 2, "count", -1));
       }},
      {"find", [](const std::string& s, const Args& a) -> Value {
         size_t hit = s.find(str_arg(a, 0, "sub", "find"));
         return hit == std::string::npos ? int64_t{-1} : static_cast<int64_t>(utf8_length(std::string_view(s).substr(0, hit)));
       }},
      {"rfind", [](const std::string& s, const Args& a) -> Value {
         size_t hit = s.rfind(str_arg(a, 0, "sub", "rfind"));
         return hit == std::string::npos ? int64_t{-1} : static_cast<int64_t>(utf8_length(std::string_view(s).substr(0, hit)));
       }},
      {"count", [](const std::string& s, const Args& a) -> Value {
         std::string sub = str_arg(a, 0, "sub", "count");
         if (sub.empty()) return static_cast<int64_t>(utf8_length(s)) + 1;
         int64_t n = 0;
         for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
         return n;
       }},
      {"join", [](const std::string& s, const Args& a) -> Value {
         std::string out;
         List items = iterate(a.get(0, "iterable") ? *a.get(0, "iterable") : Value());
         for (size_t i = 0; i < items.size(); ++i) {
           if (!items[i].is_string())
             throw RenderError("sequence item " + std::to_string(i) + ": expected str instance, " + type_name(items[i]) + " found");
           if (i) out += s;
           out += items[i].str();
         }
         return out;
       }},
      {"isdigit", [](const std::string& s, const Args&) -> Value { return all_of_category(s, is_digit_category); }},
      {"isalpha", [](const std::string& s, const Args&) -> Value { return all_of_category(s, is_alpha_category); }},
      {"isalnum", [](const std::string& s, const Args&) -> Value { return all_of_category(s, is_alnum_category); }},
      {"isspace", [](const std::string& s, const Args&) -> Value {
         std::u32string u = utf8_decode(s);
         return !u.empty() && std::all_of(u.begin(), u.end(), py_isspace);
       }},
      {"islower", [](const std::string& s, const Args&) -> Value { return py_upper(s) != s && py_lower(s) == s; }},
      {"isupper", [](const std::string& s, const Args&) -> Value { return py_lower(s) != s && py_upper(s) == s; }},
  };
  for (const auto& [method, fn] : kMethods)
    if (name == method) return bind(self, name, fn);
  return std::nullopt;
}

std::optional<Value> dict_method(const Value& self, const std::string& name) {
  if (name == "items" || name == "keys" || name == "values") {
    return Value::function(name, [self, name](const Args&) -> Value {
      List out;
      for (const auto& [k, v] : self.dict()) {
        if (name == "items") out.emplace_back(List{Value(k), v});
        else if (name == "keys") out.emplace_back(k);
        else out.push_back(v);
      }
      return out;
    });
  }
  if (name == "get") {
    return Value::function(name, [self](const Args& args) -> Value {
      const Value* key = args.get(0, "key");
      if (key && key->is_string())
        if (const Value* v = self.dict().find(key->str())) return *v;
      const Value* fallback = args.get(1, "default");
      return fallback ? *fallback : Value(nullptr);
    });
  }
  return std::nullopt;
}

std::optional<Value> list_method(const Value& self, const std::string& name) {
  if (name == "index" || name == "count") {
    return Value::function(name, [self, name](const Args& args) -> Value {
      Value needle = args.get(0, "value") ? *args.get(0, "value") : Value();
      int64_t count = 0;
      for (size_t i = 0; i < self.list().size(); ++i) {
        if (!py_equal(self.list()[i], needle)) continue;
        if (name == "index") return static_cast<int64_t>(i);
        ++count;
      }
      if (name == "index") throw RenderError(py_repr(needle) + " is not in list");
      return count;
    });
  }
  return std::nullopt;
}

bool is_mutating(const Value& self, const std::string& name) {
  static const char* const kDict[] = {"pop", "popitem", "setdefault", "update", "clear"};
  static const char* const kList[] = {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"};
  if (self.is_dict()) return std::find_if(std::begin(kDict), std::end(kDict), [&](const char* m) { return name == m; }) != std::end(kDict);
  if (self.is_list()) return std::find_if(std::begin(kList), std::end(kList), [&](const char* m) { return name == m; }) != std::end(kList);
  return false;
}

}  // namespace

std::vector<std::string> py_splitlines(const std::string& s) {
  std::u32string u = utf8_decode(s);
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t i = 0; i < u.size(); ++i) {
    char32_t c = u[i];
    bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) ||
               c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!brk) continue;
    lines.push_back(utf8_encode(u.substr(start, i - start)));
    if (c == '\r' && i + 1 < u.size() && u[i + 1] == '\n') ++i;
    start = i + 1;
  }
  if (start < u.size()) lines.push_back(utf8_encode(u.substr(start)));
  return lines;
}

std::optional<Value> get_method(const Value& object, const std::string& name) {
  if (is_mutating(object, name))
    return Value::undefined("access to attribute '" + name + "' of '" + type_name(object) + "' object is unsafe.");
  switch (object.kind()) {
    case Value::Kind::string: return string_method(object, name);
    case Value::Kind::dict: return dict_method(object, name);
    case Value::Kind::list: return list_method(object, name);
    default: return std::nullopt;
  }
}

}  // namespace troupe::jinja
