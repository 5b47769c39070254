#include "engine/template/globals.h"

#include <ctime>

#include "engine/template/py_format.h"

namespace troupe::jinja {
namespace {

// jinja2's sandbox refuses ranges longer than this (MAX_RANGE), so a template cannot make
// the server allocate without bound.
constexpr int64_t kMaxRange = 100000;

Value range(const Args& a) {
  auto int_at = [&](size_t i) {
    const Value& v = a.positional[i];
    if (v.kind() != Value::Kind::integer && v.kind() != Value::Kind::boolean)
      throw RenderError(single_quoted(type_name(v)) + " object cannot be interpreted as an integer");
    return v.int_like();
  };
  int64_t start = 0, stop = 0, step = 1;
  switch (a.positional.size()) {
    case 1: stop = int_at(0); break;
    case 2: start = int_at(0); stop = int_at(1); break;
    case 3: start = int_at(0); stop = int_at(1); step = int_at(2); break;
    default: throw RenderError("range expected 1 to 3 arguments");
  }
  if (step == 0) throw RenderError("range() arg 3 must not be zero");
  List out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (static_cast<int64_t>(out.size()) >= kMaxRange)
      throw RenderError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    out.emplace_back(i);
  }
  return out;
}

// namespace(...) and dict(...) take an optional mapping and keyword arguments.
Dict keyword_dict(const Args& a, const char* fn) {
  Dict d;
  if (!a.positional.empty()) {
    if (a.positional.size() > 1 || !a.positional[0].is_dict())
      throw RenderError(std::string(fn) + "() takes one mapping and keyword arguments");
    d = a.positional[0].dict();
  }
  for (const auto& [k, v] : a.named) d.set(k, v);
  return d;
}

Value strftime_now(const Args& a) {
  const Value* format = a.get(0, "format");
  if (!format || !format->is_string()) throw RenderError("strftime_now() needs a format string");
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[512];
  size_t n = std::strftime(buf, sizeof buf, format->str().c_str(), &local);
  return std::string(buf, n);
}

}  // namespace

Dict make_globals() {
  Dict g;
  g.set("range", Value::function("range", range));
  g.set("namespace", Value::function("namespace", [](const Args& a) {
    return Value::make_namespace(keyword_dict(a, "namespace"));
  }));
  g.set("dict", Value::function("dict", [](const Args& a) { return Value(keyword_dict(a, "dict")); }));
  g.set("raise_exception", Value::function("raise_exception", [](const Args& a) -> Value {
    const Value* message = a.get(0, "message");
    throw RaisedError(message ? py_str(*message) : "");
  }));
  g.set("strftime_now", Value::function("strftime_now", strftime_now));
  return g;
}

}  // namespace troupe::jinja
