#include "engine/template/value.h"

#include <algorithm>

#include "engine/template/template_error.h"

namespace troupe::jinja {

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : entries_)
    if (k == key) return &v;
  return nullptr;
}

void Dict::set(std::string key, Value value) {
  for (auto& [k, v] : entries_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
}

void Dict::append_new(std::string key, Value value) { entries_.emplace_back(std::move(key), std::move(value)); }

const Value* Args::get(size_t position, std::string_view name) const {
  if (position < positional.size()) return &positional[position];
  for (const auto& [k, v] : named)
    if (k == name) return &v;
  return nullptr;
}

Value Value::make_namespace(Dict attrs) {
  Value v;
  v.v_ = std::make_shared<Namespace>(Namespace{std::move(attrs)});
  return v;
}

Value Value::function(std::string name, std::function<Value(const Args&)> call) {
  Value v;
  v.v_ = std::make_shared<const Function>(Function{std::move(name), std::move(call)});
  return v;
}

double Value::number() const {
  switch (kind()) {
    case Kind::boolean: return boolean() ? 1.0 : 0.0;
    case Kind::integer: return static_cast<double>(integer());
    default: return std::get<double>(v_);
  }
}

int64_t Value::int_like() const { return kind() == Kind::boolean ? (boolean() ? 1 : 0) : integer(); }

bool Value::truthy() const {
  switch (kind()) {
    case Kind::undefined:
    case Kind::none: return false;
    case Kind::boolean: return boolean();
    case Kind::integer: return integer() != 0;
    case Kind::floating: return number() != 0.0;
    case Kind::string: return !str().empty();
    case Kind::list: return !list().empty();
    case Kind::dict: return dict().size() != 0;
    default: return true;
  }
}

const Value& require_defined(const Value& v) {
  if (v.is_undefined()) throw RenderError(v.undefined_hint().empty() ? "value is undefined" : v.undefined_hint());
  return v;
}

std::string single_quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '\'';
  out += text;
  out += '\'';
  return out;
}

std::string type_name(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::undefined: return "Undefined";
    case Value::Kind::none: return "NoneType";
    case Value::Kind::boolean: return "bool";
    case Value::Kind::integer: return "int";
    case Value::Kind::floating: return "float";
    case Value::Kind::string: return "str";
    case Value::Kind::list: return "list";
    case Value::Kind::dict: return "dict";
    case Value::Kind::ns: return "Namespace";
    case Value::Kind::function: return "function";
  }
  return "object";
}

bool py_equal(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.kind() != K::floating && b.kind() != K::floating) return a.int_like() == b.int_like();
    return a.number() == b.number();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::undefined:
    case K::none: return true;
    case K::string: return a.str() == b.str();
    case K::list: {
      const List &x = a.list(), &y = b.list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!py_equal(x[i], y[i])) return false;
      return true;
    }
    case K::dict: {
      if (a.dict().size() != b.dict().size()) return false;
      for (const auto& [k, v] : a.dict()) {
        const Value* other = b.dict().find(k);
        if (!other || !py_equal(v, *other)) return false;
      }
      return true;
    }
    case K::ns: return &a.ns() == &b.ns();
    case K::function: return &a.fn() == &b.fn();
    default: return false;
  }
}

int py_compare(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() != Value::Kind::floating && b.kind() != Value::Kind::floating)
      return a.int_like() < b.int_like() ? -1 : a.int_like() > b.int_like() ? 1 : 0;
    return a.number() < b.number() ? -1 : a.number() > b.number() ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    // Byte order of UTF-8 is code point order, which is how Python orders str.
    int c = a.str().compare(b.str());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_list() && b.is_list()) {
    const List &x = a.list(), &y = b.list();
    for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
      if (py_equal(x[i], y[i])) continue;
      return py_compare(x[i], y[i]);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  require_defined(a);
  require_defined(b);
  throw RenderError("'<' not supported between instances of '" + type_name(a) + "' and '" +
                    type_name(b) + "'");
}

namespace {
// Recursive, one frame per level: `levels` is how many more lists and dicts may open, checked
// before each one so the recursion stops at max_depth whatever the input.
template <typename Json>
Value convert(const Json& j, int levels, int max_depth) {
  const bool container = j.is_array() || j.is_object();
  if (container && levels == 0)
    throw TemplateError("the template's input nests deeper than " + std::to_string(max_depth) + " levels");
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value(nullptr);
    case nlohmann::json::value_t::boolean: return Value(j.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = j.template get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<int64_t>(u));
      return Value(static_cast<double>(u));
    }
    case nlohmann::json::value_t::number_float: return Value(j.template get<double>());
    case nlohmann::json::value_t::string: return Value(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      List list;
      list.reserve(j.size());
      for (const auto& item : j) list.push_back(convert(item, levels - 1, max_depth));
      return Value(std::move(list));
    }
    case nlohmann::json::value_t::object: {
      Dict dict;
      for (auto it = j.begin(); it != j.end(); ++it) dict.append_new(it.key(), convert(it.value(), levels - 1, max_depth));
      return Value(std::move(dict));
    }
    default: return Value(nullptr);
  }
}
}  // namespace

Value from_json(const nlohmann::json& j, int max_depth) { return convert(j, max_depth, max_depth); }
Value from_json(const nlohmann::ordered_json& j, int max_depth) { return convert(j, max_depth, max_depth); }

}  // namespace troupe::jinja
