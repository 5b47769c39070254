#include "engine/template/operations.h"

#include <cmath>

#include "engine/template/methods.h"
#include "engine/template/py_format.h"
#include "engine/template/utf8.h"

namespace troupe::jinja {

List iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::undefined: return {};
    case Value::Kind::list: return v.list();
    case Value::Kind::dict: {
      List keys;
      for (const auto& [k, item] : v.dict()) keys.emplace_back(k);
      return keys;
    }
    case Value::Kind::string: {
      List chars;
      for (char32_t c : utf8_decode(v.str())) chars.emplace_back(utf8_encode(std::u32string(1, c)));
      return chars;
    }
    default: throw RenderError(single_quoted(type_name(v)) + " object is not iterable");
  }
}

int64_t py_len(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::undefined: return 0;
    case Value::Kind::string: return static_cast<int64_t>(utf8_length(v.str()));
    case Value::Kind::list: return static_cast<int64_t>(v.list().size());
    case Value::Kind::dict: return static_cast<int64_t>(v.dict().size());
    default: throw RenderError("object of type '" + type_name(v) + "' has no len()");
  }
}

Value get_attr(const Value& object, const std::string& name) {
  require_defined(object);
  if (std::optional<Value> method = get_method(object, name)) return *method;
  if (object.is_dict()) {
    if (const Value* v = object.dict().find(name)) return *v;
  } else if (object.kind() == Value::Kind::ns) {
    if (const Value* v = object.ns().attrs.find(name)) return *v;
  }
  return Value::undefined(single_quoted((object.is_dict() ? std::string("dict") : type_name(object)) + " object") +
                          " has no attribute " + single_quoted(name));
}

namespace {

// PySlice_AdjustIndices: clamp Python slice bounds to a sequence of `length` items.
std::vector<int64_t> slice_indices(int64_t length, const Value& start, const Value& stop, const Value& step) {
  auto as_int = [](const Value& v, const char* what) -> int64_t {
    if (v.kind() != Value::Kind::integer && v.kind() != Value::Kind::boolean)
      throw RenderError(std::string("slice ") + what + " must be an integer or None");
    return v.int_like();
  };
  bool unset_step = step.is_undefined() || step.is_none();
  int64_t st = unset_step ? 1 : as_int(step, "step");
  if (st == 0) throw RenderError("slice step cannot be zero");
  auto bound = [&](const Value& v, int64_t fallback) -> int64_t {
    if (v.is_undefined() || v.is_none()) return fallback;
    int64_t i = as_int(v, "index");
    if (i < 0) {
      i += length;
      if (i < 0) i = st < 0 ? -1 : 0;
    } else if (i >= length) {
      i = st < 0 ? length - 1 : length;
    }
    return i;
  };
  int64_t b = bound(start, st < 0 ? length - 1 : 0);
  int64_t e = bound(stop, st < 0 ? -1 : length);
  std::vector<int64_t> out;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) out.push_back(i);
  return out;
}

}  // namespace

Value get_item(const Value& object, const Value& key) {
  require_defined(object);
  if (object.is_list() || object.is_string()) {
    if (key.kind() == Value::Kind::integer || key.kind() == Value::Kind::boolean) {
      int64_t i = key.int_like();
      if (object.is_list()) {
        int64_t n = static_cast<int64_t>(object.list().size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) return object.list()[static_cast<size_t>(i)];
      } else {
        std::u32string s = utf8_decode(object.str());
        int64_t n = static_cast<int64_t>(s.size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) return utf8_encode(std::u32string(1, s[static_cast<size_t>(i)]));
      }
      return Value::undefined(type_name(object) + " object has no element " + std::to_string(key.int_like()));
    }
  } else if (object.is_dict() && key.is_string()) {
    if (const Value* v = object.dict().find(key.str())) return *v;
  }
  // jinja2 falls back to the attribute when the item is missing: d['items'] is the method.
  if (key.is_string()) return get_attr(object, key.str());
  return Value::undefined(single_quoted(type_name(object) + " object") + " has no element " + py_repr(key));
}

Value get_slice(const Value& object, const Value& start, const Value& stop, const Value& step) {
  require_defined(object);
  if (object.is_list()) {
    const List& list = object.list();
    List out;
    for (int64_t i : slice_indices(static_cast<int64_t>(list.size()), start, stop, step))
      out.push_back(list[static_cast<size_t>(i)]);
    return out;
  }
  if (object.is_string()) {
    std::u32string s = utf8_decode(object.str());
    std::u32string out;
    for (int64_t i : slice_indices(static_cast<int64_t>(s.size()), start, stop, step))
      out.push_back(s[static_cast<size_t>(i)]);
    return utf8_encode(out);
  }
  return Value::undefined(single_quoted(type_name(object)) + " object is not subscriptable");
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::undefined: return false;
    case Value::Kind::string:
      if (!item.is_string())
        throw RenderError("'in <string>' requires string as left operand, not " + type_name(item));
      return container.str().find(item.str()) != std::string::npos;
    case Value::Kind::list:
      for (const Value& v : container.list())
        if (py_equal(v, item)) return true;
      return false;
    case Value::Kind::dict:
      return item.is_string() && container.dict().find(item.str()) != nullptr;
    default:
      throw RenderError("argument of type '" + type_name(container) + "' is not iterable");
  }
}

namespace {

[[noreturn]] void unsupported(const char* op, const Value& a, const Value& b) {
  require_defined(a);
  require_defined(b);
  throw RenderError(std::string("unsupported operand type(s) for ") + op + ": '" + type_name(a) +
                    "' and '" + type_name(b) + "'");
}

// Python ints do not overflow; ours refuse to rather than wrap.
int64_t checked(int64_t x, int64_t y, bool (*op)(int64_t, int64_t, int64_t*)) {
  int64_t r = 0;
  if (op(x, y, &r)) throw RenderError("integer overflow");
  return r;
}
bool add_overflow(int64_t x, int64_t y, int64_t* r) { return __builtin_add_overflow(x, y, r); }
bool sub_overflow(int64_t x, int64_t y, int64_t* r) { return __builtin_sub_overflow(x, y, r); }
bool mul_overflow(int64_t x, int64_t y, int64_t* r) { return __builtin_mul_overflow(x, y, r); }

Value repeat(const Value& seq, int64_t times) {
  if (seq.is_string()) {
    std::string out;
    for (int64_t i = 0; i < times; ++i) out += seq.str();
    return out;
  }
  List out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), seq.list().begin(), seq.list().end());
  return out;
}

// Python's `"%s" % x` for the conversions templates use: %s %r %d %i %%.
Value printf_format(const std::string& format, const Value& args) {
  List values = args.is_list() ? args.list() : List{args};
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out.push_back(format[i]);
      continue;
    }
    char conv = i + 1 < format.size() ? format[++i] : '\0';
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (next >= values.size()) throw RenderError("not enough arguments for format string");
    const Value& v = values[next++];
    if (conv == 's') out += py_str(v);
    else if (conv == 'r') out += py_repr(v);
    else if ((conv == 'd' || conv == 'i') && v.is_number()) out += std::to_string(v.kind() == Value::Kind::floating ? static_cast<int64_t>(v.number()) : v.int_like());
    else throw RenderError(std::string("unsupported format character '") + conv + "'");
  }
  if (next < values.size()) throw RenderError("not all arguments converted during string formatting");
  return out;
}

Value arithmetic(expr::Op op, const char* symbol, const Value& a, const Value& b) {
  using expr::Op;
  if (!a.is_number() || !b.is_number()) unsupported(symbol, a, b);
  bool ints = a.kind() != Value::Kind::floating && b.kind() != Value::Kind::floating;
  if (ints && op != Op::div && !(op == Op::pow && b.int_like() < 0)) {
    int64_t x = a.int_like(), y = b.int_like();
    switch (op) {
      case Op::add: return checked(x, y, add_overflow);
      case Op::sub: return checked(x, y, sub_overflow);
      case Op::mul: return checked(x, y, mul_overflow);
      case Op::floordiv:
      case Op::mod: {
        if (y == 0) throw RenderError("integer division or modulo by zero");
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {  // Python floors toward negative infinity
          q -= 1;
          m += y;
        }
        return op == Op::floordiv ? q : m;
      }
      default: {  // pow
        int64_t result = 1;
        for (int64_t i = 0; i < y; ++i) result = checked(result, x, mul_overflow);
        return result;
      }
    }
  }
  double x = a.number(), y = b.number();
  switch (op) {
    case Op::add: return x + y;
    case Op::sub: return x - y;
    case Op::mul: return x * y;
    case Op::pow: return std::pow(x, y);
    default: break;
  }
  if (y == 0.0) throw RenderError(op == Op::div ? "division by zero" : "float modulo");
  if (op == Op::div) return x / y;
  // CPython's float divmod, so that -7.5 // 2 and -7.5 % 2 agree with Python.
  double mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0.0) {
    if ((y < 0) != (mod < 0)) {
      mod += y;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, y);
  }
  if (op == Op::mod) return mod;
  if (div == 0.0) return std::copysign(0.0, x / y);
  double floordiv = std::floor(div);
  return div - floordiv > 0.5 ? floordiv + 1.0 : floordiv;
}

}  // namespace

Value binary_op(expr::Op op, const Value& a, const Value& b) {
  using expr::Op;
  switch (op) {
    case Op::concat: return py_str(require_defined(a)) + py_str(require_defined(b));
    case Op::add:
      if (a.is_string() && b.is_string()) return a.str() + b.str();
      if (a.is_list() && b.is_list()) {
        List out = a.list();
        out.insert(out.end(), b.list().begin(), b.list().end());
        return out;
      }
      if (a.is_string() && !b.is_undefined())
        throw RenderError("can only concatenate str (not \"" + type_name(b) + "\") to str");
      return arithmetic(op, "+", a, b);
    case Op::sub: return arithmetic(op, "-", a, b);
    case Op::mul:
      if ((a.is_string() || a.is_list()) && (b.kind() == Value::Kind::integer || b.kind() == Value::Kind::boolean))
        return repeat(a, b.int_like());
      if ((b.is_string() || b.is_list()) && (a.kind() == Value::Kind::integer || a.kind() == Value::Kind::boolean))
        return repeat(b, a.int_like());
      return arithmetic(op, "*", a, b);
    case Op::div: return arithmetic(op, "/", a, b);
    case Op::floordiv: return arithmetic(op, "//", a, b);
    case Op::mod:
      if (a.is_string()) return printf_format(a.str(), b);
      return arithmetic(op, "%", a, b);
    case Op::pow: return arithmetic(op, "**", a, b);
    default: throw RenderError("not a binary operator");
  }
}

}  // namespace troupe::jinja
