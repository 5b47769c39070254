#pragma once
// Value: what a template expression evaluates to, with Python's semantics (the ones jinja2
// inherits): truthiness, ==, ordering, and the distinction between `none` and undefined.
// Lists and dicts are immutable and shared, because templates only ever read the messages they
// are given (transformers renders in an immutable sandbox) and copies would make every
// `messages[i]` O(n). Namespaces are the one mutable thing, shared by reference as in jinja2.
// Dicts keep insertion order, because `tojson` must print keys in the order the caller gave.
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace troupe::jinja {

class Value;
using List = std::vector<Value>;

class Dict {
 public:
  using Entry = std::pair<std::string, Value>;
  const Value* find(std::string_view key) const;
  // Python keeps a replaced key at its original position.
  void set(std::string key, Value value);
  // For a key known to be absent (a JSON object's keys are unique): no search, so building a
  // dict of n keys is O(n), not set()'s O(n^2) — a client's object may have 100,000 keys.
  void append_new(std::string key, Value value);
  size_t size() const { return entries_.size(); }
  std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const { return entries_.end(); }

 private:
  std::vector<Entry> entries_;
};

struct Namespace {
  Dict attrs;
};

struct Args {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;
  // The argument at `position`, or the one passed as `name=`; null when neither was given.
  const Value* get(size_t position, std::string_view name) const;
};

struct Function {
  std::string name;
  std::function<Value(const Args&)> call;
};

// An undefined value remembers why it is undefined: using it (adding to it, taking its
// attribute, serializing it) fails with jinja2's message, e.g. "'foo' is undefined".
struct Undefined {
  std::string hint;
};

class Value {
 public:
  // Order matches the variant below.
  enum class Kind { undefined, none, boolean, integer, floating, string, list, dict, ns, function };

  Value() : v_(Undefined{}) {}
  Value(std::nullptr_t) : v_(nullptr) {}
  Value(bool b) : v_(b) {}
  Value(int i) : v_(static_cast<int64_t>(i)) {}
  Value(int64_t i) : v_(i) {}
  Value(double d) : v_(d) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(std::string_view s) : v_(std::string(s)) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(List l) : v_(std::make_shared<const List>(std::move(l))) {}
  Value(Dict d) : v_(std::make_shared<const Dict>(std::move(d))) {}
  static Value undefined(std::string hint) { return Value(Undefined{std::move(hint)}); }
  static Value make_namespace(Dict attrs);
  static Value function(std::string name, std::function<Value(const Args&)> call);

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_undefined() const { return kind() == Kind::undefined; }
  bool is_none() const { return kind() == Kind::none; }
  bool is_string() const { return kind() == Kind::string; }
  bool is_integer() const { return kind() == Kind::integer; }
  // Python's numbers: bool is an int subclass.
  bool is_number() const { return kind() == Kind::boolean || kind() == Kind::integer || kind() == Kind::floating; }
  bool is_list() const { return kind() == Kind::list; }
  bool is_dict() const { return kind() == Kind::dict; }

  bool boolean() const { return std::get<bool>(v_); }
  int64_t integer() const { return std::get<int64_t>(v_); }
  // bool, int or float as a double; call only when is_number().
  double number() const;
  // bool or int as an int64; call only when kind() is boolean or integer.
  int64_t int_like() const;
  const std::string& str() const { return std::get<std::string>(v_); }
  const List& list() const { return *std::get<std::shared_ptr<const List>>(v_); }
  const Dict& dict() const { return *std::get<std::shared_ptr<const Dict>>(v_); }
  Namespace& ns() const { return *std::get<std::shared_ptr<Namespace>>(v_); }
  const Function& fn() const { return *std::get<std::shared_ptr<const Function>>(v_); }
  const std::string& undefined_hint() const { return std::get<Undefined>(v_).hint; }

  bool truthy() const;

 private:
  explicit Value(Undefined u) : v_(std::move(u)) {}
  std::variant<Undefined, std::nullptr_t, bool, int64_t, double, std::string,
               std::shared_ptr<const List>, std::shared_ptr<const Dict>,
               std::shared_ptr<Namespace>, std::shared_ptr<const Function>>
      v_;
};

// Runtime failures, without a line number; the renderer adds the line of the failing node.
struct RenderError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// raise_exception(msg) from the template: reported verbatim, not prefixed.
struct RaisedError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws jinja2's UndefinedError message when v is undefined; returns v otherwise.
const Value& require_defined(const Value& v);

// 'text' in single quotes, as Python's messages quote names. (Also sidesteps GCC 12's bogus
// -Wrestrict on `"'" + std::string`.)
std::string single_quoted(std::string_view text);
// Python's type(x).__name__, for error messages.
std::string type_name(const Value& v);
bool py_equal(const Value& a, const Value& b);
// -1, 0, 1 as Python's < and > order numbers, strings and lists; throws for other pairs.
int py_compare(const Value& a, const Value& b);

// The most levels of lists and dicts from_json builds (the value itself is level 1): a request
// body is already held to as many (net/json_body.h), and every walk of a Value (==, tojson,
// str) recurses once per level.
inline constexpr int kMaxValueDepth = 64;

// JSON as template values. Throws TemplateError when `j` nests deeper than `max_depth` levels.
Value from_json(const nlohmann::json& j, int max_depth = kMaxValueDepth);
Value from_json(const nlohmann::ordered_json& j, int max_depth = kMaxValueDepth);

}  // namespace troupe::jinja
