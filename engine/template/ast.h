#pragma once
// The parsed template: a tree of statements holding expression trees. Filters and tests are
// resolved to functions while parsing, so an unknown name fails at parse time (as in jinja2)
// and rendering never looks names up in a table.
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "engine/template/value.h"

namespace troupe::jinja {

using FilterFn = Value (*)(const Value& input, const Args& args);
using TestFn = bool (*)(const Value& input, const Args& args);

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct CallArgs {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> named;
};

namespace expr {
struct Literal { Value value; };
struct ListLit { std::vector<ExprPtr> items; };
struct DictLit { std::vector<std::pair<ExprPtr, ExprPtr>> items; };
struct Name { std::string name; };
struct Attr { ExprPtr object; std::string name; };           // a.b
struct Item { ExprPtr object; ExprPtr key; };                 // a[k]
struct Slice { ExprPtr object, start, stop, step; };          // a[start:stop:step], parts may be null
struct Call { ExprPtr callee; CallArgs args; };
struct Filter { ExprPtr operand; FilterFn fn; std::string name; CallArgs args; };
struct Test { ExprPtr operand; TestFn fn; std::string name; CallArgs args; bool negated; };
enum class Op { add, sub, mul, div, floordiv, mod, pow, concat, and_, or_, eq, ne, lt, le, gt, ge, in, not_in };
struct Unary { char op; ExprPtr operand; };                   // '-', '+', '!' (not)
struct Binary { Op op; ExprPtr lhs, rhs; };
struct Compare { ExprPtr first; std::vector<std::pair<Op, ExprPtr>> rest; };  // a < b < c chains
struct Conditional { ExprPtr condition, then, otherwise; };   // otherwise may be null: undefined
}  // namespace expr

struct Expr {
  int line = 0;
  std::variant<expr::Literal, expr::ListLit, expr::DictLit, expr::Name, expr::Attr, expr::Item,
               expr::Slice, expr::Call, expr::Filter, expr::Test, expr::Unary, expr::Binary,
               expr::Compare, expr::Conditional>
      node;
};

struct Stmt;
using Body = std::vector<Stmt>;

namespace stmt {
struct Text { std::string text; };
struct Print { ExprPtr expr; };
struct If { std::vector<std::pair<ExprPtr, Body>> branches; Body otherwise; };
struct For {
  std::vector<std::string> targets;  // several: unpack each item, as `for k, v in d.items()`
  ExprPtr iterable;
  ExprPtr condition;                 // `for x in xs if cond`; may be null
  Body body;
  Body otherwise;                    // runs when no item passed
};
struct Set {
  std::vector<std::string> targets;
  std::string attr;                  // non-empty: `set targets[0].attr = value` on a namespace
  ExprPtr value;
};
struct SetBlock { std::string target; std::vector<expr::Filter> filters; Body body; };
struct Macro { std::string name; std::vector<std::string> params; std::vector<ExprPtr> defaults; Body body; };
struct FilterBlock { std::vector<expr::Filter> filters; Body body; };
struct LoopControl { bool is_break; };
// `{% call(params) m(args) %}body{% endcall %}`: calls m with `caller`, a macro rendering body.
struct CallBlock { std::vector<std::string> params; std::vector<ExprPtr> defaults; ExprPtr call; Body body; };
// A body with its own scope: transformers' `{% generation %}` renders its body as a caller.
struct ScopeBlock { Body body; };
}  // namespace stmt

struct Stmt {
  int line = 0;
  std::variant<stmt::Text, stmt::Print, stmt::If, stmt::For, stmt::Set, stmt::SetBlock,
               stmt::Macro, stmt::FilterBlock, stmt::LoopControl, stmt::CallBlock, stmt::ScopeBlock>
      node;
};

}  // namespace troupe::jinja
