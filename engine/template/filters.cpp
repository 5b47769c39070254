// jinja2's built-in filters (jinja2/filters.py) that chat templates use, and transformers'
// replacement `tojson`. Filters that return generators in jinja2 (map, select, unique, ...)
// return lists here; the difference only shows when printing one without `|list`.
#include "engine/template/filters.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "engine/template/methods.h"
#include "engine/template/operations.h"
#include "engine/template/py_format.h"
#include "engine/template/utf8.h"

namespace troupe::jinja {
namespace {

const Value* opt(const Args& a, size_t pos, const char* name) {
  const Value* v = a.get(pos, name);
  return v && !v->is_none() ? v : nullptr;
}
bool flag(const Args& a, size_t pos, const char* name) {
  const Value* v = a.get(pos, name);
  return v && v->truthy();
}
std::string text(const Value& v) { return py_str(v); }

// "a.b.0" as jinja2's make_attrgetter walks it: item lookup, digits as integer indices.
Value attribute_path(const Value& v, const std::string& path) {
  Value cur = v;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    cur = get_item(cur, digits ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

Value filter_tojson(const Value& v, const Args& a) {
  // transformers: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
  JsonDumpOptions o;
  o.ensure_ascii = flag(a, 0, "ensure_ascii");
  if (const Value* indent = opt(a, 1, "indent")) {
    if (indent->is_string()) o.indent = indent->str();
    else if (indent->kind() == Value::Kind::integer) o.indent = std::string(static_cast<size_t>(std::max<int64_t>(0, indent->integer())), ' ');
    else throw RenderError("tojson indent must be an int or a string");
    o.item_separator = ",";
  }
  if (const Value* seps = opt(a, 2, "separators")) {
    if (!seps->is_list() || seps->list().size() != 2 || !seps->list()[0].is_string() || !seps->list()[1].is_string())
      throw RenderError("tojson separators must be a pair of strings");
    o.item_separator = seps->list()[0].str();
    o.key_separator = seps->list()[1].str();
  }
  o.sort_keys = flag(a, 3, "sort_keys");
  return py_json_dumps(v, o);
}

Value filter_default(const Value& v, const Args& a) {
  const Value* fallback = a.get(0, "default_value");
  if (v.is_undefined() || (flag(a, 1, "boolean") && !v.truthy())) return fallback ? *fallback : Value("");
  return v;
}

Value filter_first(const Value& v, const Args&) {
  List items = iterate(v);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value filter_last(const Value& v, const Args&) {
  List items = iterate(v);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value filter_join(const Value& v, const Args& a) {
  const Value* sep = opt(a, 0, "d");
  const Value* attr = opt(a, 1, "attribute");
  std::string out;
  bool first = true;
  for (const Value& item : iterate(v)) {
    if (!first && sep) out += text(*sep);
    first = false;
    out += text(attr ? attribute_path(item, text(*attr)) : item);
  }
  return out;
}

Value filter_int(const Value& v, const Args& a) {
  const Value* fallback = opt(a, 0, "default");
  Value dflt = fallback ? *fallback : Value(0);
  switch (v.kind()) {
    case Value::Kind::boolean:
    case Value::Kind::integer: return v.int_like();
    case Value::Kind::floating: return std::isfinite(v.number()) ? Value(static_cast<int64_t>(v.number())) : dflt;
    case Value::Kind::string: {
      std::string s = py_strip(v.str(), "", true, true);
      const Value* base = opt(a, 1, "base");
      char* end = nullptr;
      long long i = std::strtoll(s.c_str(), &end, base ? static_cast<int>(base->int_like()) : 10);
      if (!s.empty() && *end == '\0') return static_cast<int64_t>(i);
      double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && *end == '\0' && std::isfinite(d)) return static_cast<int64_t>(d);
      return dflt;
    }
    default: return dflt;
  }
}

Value filter_float(const Value& v, const Args& a) {
  const Value* fallback = opt(a, 0, "default");
  if (v.is_number()) return v.number();
  if (v.is_string()) {
    std::string s = py_strip(v.str(), "", true, true);
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && *end == '\0') return d;
  }
  return fallback ? *fallback : Value(0.0);
}

Value filter_items(const Value& v, const Args&) {
  if (v.is_undefined()) return List{};
  if (!v.is_dict()) throw RenderError("Can only get item pairs from a mapping.");
  List out;
  for (const auto& [k, item] : v.dict()) out.emplace_back(List{Value(k), item});
  return out;
}

Value filter_reverse(const Value& v, const Args&) {
  if (v.is_string()) {
    std::u32string u = utf8_decode(v.str());
    std::reverse(u.begin(), u.end());
    return utf8_encode(u);
  }
  List items = iterate(v);
  std::reverse(items.begin(), items.end());
  return items;
}

Value filter_unique(const Value& v, const Args& a) {
  bool case_sensitive = flag(a, 0, "case_sensitive");
  const Value* attr = opt(a, 1, "attribute");
  List out, seen;
  for (const Value& item : iterate(v)) {
    Value key = attr ? attribute_path(item, text(*attr)) : item;
    if (key.is_string() && !case_sensitive) key = py_lower(key.str());
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return py_equal(s, key); })) continue;
    seen.push_back(key);
    out.push_back(item);
  }
  return out;
}

// select / reject / selectattr / rejectattr share jinja2's select_or_reject.
Value select_or_reject(const Value& v, const Args& a, bool by_attribute, bool keep_if) {
  size_t next = 0;
  std::string attr;
  if (by_attribute) {
    const Value* name = a.get(next++, "attribute");
    if (!name) throw RenderError("selectattr/rejectattr need an attribute name");
    attr = text(*name);
  }
  TestFn test = nullptr;
  Args test_args;
  if (next < a.positional.size()) {
    std::string name = text(a.positional[next]);
    test = find_test(name);
    if (!test) throw RenderError("No test named '" + name + "'.");
    test_args.positional.assign(a.positional.begin() + static_cast<long>(next) + 1, a.positional.end());
  }
  List out;
  for (const Value& item : iterate(v)) {
    Value subject = by_attribute ? attribute_path(item, attr) : item;
    bool passed = test ? test(subject, test_args) : subject.truthy();
    if (passed == keep_if) out.push_back(item);
  }
  return out;
}

Value filter_map(const Value& v, const Args& a) {
  List out;
  if (const Value* attr = opt(a, 0, "attribute"); attr && a.positional.empty()) {
    const Value* fallback = a.get(1, "default");
    for (const Value& item : iterate(v)) {
      Value got = attribute_path(item, text(*attr));
      out.push_back(got.is_undefined() && fallback ? *fallback : got);
    }
    return out;
  }
  if (a.positional.empty()) throw RenderError("map needs a filter name or attribute=");
  std::string name = text(a.positional[0]);
  FilterFn fn = find_filter(name);
  if (!fn) throw RenderError("No filter named '" + name + "'.");
  Args rest;
  rest.positional.assign(a.positional.begin() + 1, a.positional.end());
  rest.named = a.named;
  for (const Value& item : iterate(v)) out.push_back(fn(item, rest));
  return out;
}

Value filter_indent(const Value& v, const Args& a) {
  const Value* width = opt(a, 0, "width");
  std::string pad = !width ? "    " : width->is_string() ? width->str() : std::string(static_cast<size_t>(std::max<int64_t>(0, width->int_like())), ' ');
  std::vector<std::string> lines = py_splitlines(text(v) + "\n");
  std::string out;
  if (flag(a, 2, "blank")) {
    for (size_t i = 0; i < lines.size(); ++i) out += (i ? "\n" + pad : "") + lines[i];
  } else {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) out += "\n" + (lines[i].empty() ? "" : pad);
      out += lines[i];
    }
  }
  return flag(a, 1, "first") ? pad + out : out;
}

// Sort key per jinja2's sort/dictsort: strings compare case-folded unless case_sensitive.
Value sort_key(const Value& v, bool case_sensitive) {
  return v.is_string() && !case_sensitive ? Value(py_lower(v.str())) : v;
}

Value filter_sort(const Value& v, const Args& a) {
  bool reverse = flag(a, 0, "reverse"), case_sensitive = flag(a, 1, "case_sensitive");
  const Value* attr = opt(a, 2, "attribute");
  List items = iterate(v);
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    Value kx = sort_key(attr ? attribute_path(x, text(*attr)) : x, case_sensitive);
    Value ky = sort_key(attr ? attribute_path(y, text(*attr)) : y, case_sensitive);
    return reverse ? py_compare(ky, kx) < 0 : py_compare(kx, ky) < 0;
  });
  return items;
}

Value filter_dictsort(const Value& v, const Args& a) {
  bool case_sensitive = flag(a, 0, "case_sensitive");
  const Value* by = opt(a, 1, "by");
  size_t pos = by && text(*by) == "value" ? 1 : 0;
  List items = filter_items(v, {}).list();
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    int c = py_compare(sort_key(x.list()[pos], case_sensitive), sort_key(y.list()[pos], case_sensitive));
    return flag(a, 2, "reverse") ? c > 0 : c < 0;
  });
  return items;
}

Value min_or_max(const Value& v, const Args& a, bool want_max) {
  bool case_sensitive = flag(a, 0, "case_sensitive");
  const Value* attr = opt(a, 1, "attribute");
  List items = iterate(v);
  if (items.empty()) return Value::undefined(want_max ? "No aggregated item, sequence was empty." : "No aggregated item, sequence was empty.");
  const Value* best = &items[0];
  for (const Value& item : items) {
    Value k = sort_key(attr ? attribute_path(item, text(*attr)) : item, case_sensitive);
    Value kb = sort_key(attr ? attribute_path(*best, text(*attr)) : *best, case_sensitive);
    if (want_max ? py_compare(k, kb) > 0 : py_compare(k, kb) < 0) best = &item;
  }
  return *best;
}

Value filter_sum(const Value& v, const Args& a) {
  const Value* attr = opt(a, 0, "attribute");
  const Value* start = opt(a, 1, "start");
  Value total = start ? *start : Value(0);
  for (const Value& item : iterate(v)) total = binary_op(expr::Op::add, total, attr ? attribute_path(item, text(*attr)) : item);
  return total;
}

Value filter_round(const Value& v, const Args& a) {
  if (!v.is_number()) throw RenderError("round needs a number");
  const Value* precision = opt(a, 0, "precision");
  const Value* method = opt(a, 1, "method");
  double scale = std::pow(10.0, precision ? static_cast<double>(precision->int_like()) : 0.0);
  double x = v.number() * scale;
  std::string how = method ? text(*method) : "common";
  double r = how == "ceil" ? std::ceil(x) : how == "floor" ? std::floor(x) : std::nearbyint(x);
  return r / scale;
}

Value filter_escape(const Value& v, const Args&) {
  std::string out;
  for (char c : text(v)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// jinja2's title: capitalize each run that follows a space, '-', or an opening bracket.
Value filter_title(const Value& v, const Args&) {
  std::string out;
  bool at_word_start = true;
  for (char32_t c : utf8_decode(text(v))) {
    bool sep = py_isspace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    std::string one = utf8_encode(std::u32string(1, c));
    out += sep ? one : at_word_start ? py_upper(one) : py_lower(one);
    at_word_start = sep;
  }
  return out;
}

struct NamedFilter {
  const char* name;
  FilterFn fn;
};

const NamedFilter kFilters[] = {
    {"tojson", filter_tojson},
    {"trim", [](const Value& v, const Args& a) -> Value { const Value* c = opt(a, 0, "chars"); return py_strip(text(v), c ? text(*c) : "", true, true); }},
    {"length", [](const Value& v, const Args&) -> Value { return py_len(v); }},
    {"count", [](const Value& v, const Args&) -> Value { return py_len(v); }},
    {"upper", [](const Value& v, const Args&) -> Value { return py_upper(text(v)); }},
    {"lower", [](const Value& v, const Args&) -> Value { return py_lower(text(v)); }},
    {"capitalize", [](const Value& v, const Args&) -> Value { return py_capitalize(text(v)); }},
    {"title", filter_title},
    {"default", filter_default},
    {"d", filter_default},
    {"first", filter_first},
    {"last", filter_last},
    {"join", filter_join},
    {"replace", [](const Value& v, const Args& a) -> Value {
       const Value* old = a.get(0, "old");
       const Value* repl = a.get(1, "new");
       if (!old || !repl) throw RenderError("replace needs old and new");
       const Value* count = opt(a, 2, "count");
       Args call{{*old, *repl}, {}};
       if (count) call.positional.push_back(*count);
       return get_method(Value(text(v)), "replace")->fn().call(call);
     }},
    {"string", [](const Value& v, const Args&) -> Value { return text(v); }},
    {"int", filter_int},
    {"float", filter_float},
    {"list", [](const Value& v, const Args&) -> Value { return iterate(v); }},
    {"items", filter_items},
    {"dictsort", filter_dictsort},
    {"select", [](const Value& v, const Args& a) { return select_or_reject(v, a, false, true); }},
    {"reject", [](const Value& v, const Args& a) { return select_or_reject(v, a, false, false); }},
    {"selectattr", [](const Value& v, const Args& a) { return select_or_reject(v, a, true, true); }},
    {"rejectattr", [](const Value& v, const Args& a) { return select_or_reject(v, a, true, false); }},
    {"map", filter_map},
    {"unique", filter_unique},
    {"reverse", filter_reverse},
    {"sort", filter_sort},
    {"min", [](const Value& v, const Args& a) { return min_or_max(v, a, false); }},
    {"max", [](const Value& v, const Args& a) { return min_or_max(v, a, true); }},
    {"sum", filter_sum},
    {"abs", [](const Value& v, const Args&) -> Value {
       if (v.kind() == Value::Kind::floating) return std::fabs(v.number());
       if (!v.is_number()) throw RenderError("bad operand type for abs(): '" + type_name(v) + "'");
       return static_cast<int64_t>(std::llabs(v.int_like()));
     }},
    {"round", filter_round},
    {"safe", [](const Value& v, const Args&) { return v; }},
    {"escape", filter_escape},
    {"e", filter_escape},
    {"indent", filter_indent},
};

}  // namespace

FilterFn find_filter(std::string_view name) {
  for (const NamedFilter& f : kFilters)
    if (name == f.name) return f.fn;
  return nullptr;
}

}  // namespace troupe::jinja
