// jinja2's tests (`x is defined`, `x is string`, ...), as jinja2/tests.py defines them over
// Python types: bool counts as a number, and undefined counts as iterable and a sequence.
#include <cmath>

#include "engine/template/filters.h"
#include "engine/template/operations.h"
#include "engine/template/utf8.h"

namespace troupe::jinja {
namespace {

const Value& arg0(const Args& args) {
  static const Value kMissing;
  const Value* v = args.get(0, "value");
  return v ? *v : kMissing;
}

bool test_parity(const Value& v, int64_t remainder) {
  require_defined(v);
  if (v.kind() == Value::Kind::floating) return std::fmod(std::fabs(v.number()), 2.0) == static_cast<double>(remainder);
  if (v.kind() != Value::Kind::integer && v.kind() != Value::Kind::boolean)
    throw RenderError("unsupported operand type(s) for %: '" + type_name(v) + "' and 'int'");
  int64_t m = v.int_like() % 2;
  return (m < 0 ? -m : m) == remainder;
}

struct NamedTest {
  const char* name;
  TestFn fn;
};

const NamedTest kTests[] = {
    {"defined", [](const Value& v, const Args&) { return !v.is_undefined(); }},
    {"undefined", [](const Value& v, const Args&) { return v.is_undefined(); }},
    {"none", [](const Value& v, const Args&) { return v.is_none(); }},
    {"boolean", [](const Value& v, const Args&) { return v.kind() == Value::Kind::boolean; }},
    {"true", [](const Value& v, const Args&) { return v.kind() == Value::Kind::boolean && v.boolean(); }},
    {"false", [](const Value& v, const Args&) { return v.kind() == Value::Kind::boolean && !v.boolean(); }},
    {"integer", [](const Value& v, const Args&) { return v.kind() == Value::Kind::integer; }},
    {"float", [](const Value& v, const Args&) { return v.kind() == Value::Kind::floating; }},
    {"number", [](const Value& v, const Args&) { return v.is_number(); }},
    {"string", [](const Value& v, const Args&) { return v.is_string(); }},
    {"mapping", [](const Value& v, const Args&) { return v.is_dict(); }},
    {"iterable", [](const Value& v, const Args&) {
       return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
     }},
    {"sequence", [](const Value& v, const Args&) {
       return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
     }},
    {"callable", [](const Value& v, const Args&) { return v.kind() == Value::Kind::function; }},
    {"odd", [](const Value& v, const Args&) { return test_parity(v, 1); }},
    {"even", [](const Value& v, const Args&) { return test_parity(v, 0); }},
    {"divisibleby", [](const Value& v, const Args& a) {
       const Value& n = arg0(a);
       if (!v.is_number() || !n.is_number()) throw RenderError("divisibleby needs numbers");
       if (n.number() == 0.0) throw RenderError("integer division or modulo by zero");
       return std::fmod(v.number(), n.number()) == 0.0;
     }},
    {"eq", [](const Value& v, const Args& a) { return py_equal(v, arg0(a)); }},
    {"equalto", [](const Value& v, const Args& a) { return py_equal(v, arg0(a)); }},
    {"ne", [](const Value& v, const Args& a) { return !py_equal(v, arg0(a)); }},
    {"lt", [](const Value& v, const Args& a) { return py_compare(v, arg0(a)) < 0; }},
    {"lessthan", [](const Value& v, const Args& a) { return py_compare(v, arg0(a)) < 0; }},
    {"le", [](const Value& v, const Args& a) { return py_compare(v, arg0(a)) <= 0; }},
    {"gt", [](const Value& v, const Args& a) { return py_compare(v, arg0(a)) > 0; }},
    {"greaterthan", [](const Value& v, const Args& a) { return py_compare(v, arg0(a)) > 0; }},
    {"ge", [](const Value& v, const Args& a) { return py_compare(v, arg0(a)) >= 0; }},
    {"in", [](const Value& v, const Args& a) { return contains(arg0(a), v); }},
    {"sameas", [](const Value& v, const Args& a) {
       // Python identity; only None, True and False are singletons we can promise.
       const Value& o = arg0(a);
       if (v.kind() != o.kind()) return false;
       if (v.is_none()) return true;
       if (v.kind() == Value::Kind::boolean) return v.boolean() == o.boolean();
       if (v.kind() == Value::Kind::ns) return &v.ns() == &o.ns();
       return false;
     }},
    {"lower", [](const Value& v, const Args&) {
       return v.is_string() && py_lower(v.str()) == v.str() && py_upper(v.str()) != v.str();
     }},
    {"upper", [](const Value& v, const Args&) {
       return v.is_string() && py_upper(v.str()) == v.str() && py_lower(v.str()) != v.str();
     }},
    {"escaped", [](const Value&, const Args&) { return false; }},
};

}  // namespace

TestFn find_test(std::string_view name) {
  for (const NamedTest& t : kTests)
    if (name == t.name) return t.fn;
  return nullptr;
}

}  // namespace troupe::jinja
