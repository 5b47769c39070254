// Expressions, loosest binding first, as jinja2/parser.py orders them: conditional, or, and,
// not, comparisons, + -, ~, * / // %, **, unary - +, then primary with postfix ., [], () and
// the filter/test suffixes | and `is`.
#include "engine/template/filters.h"
#include "engine/template/parser_impl.h"

namespace troupe::jinja {

using expr::Op;

// A bare comma list is a tuple where jinja2 allows one: `{{ a, b }}`, `set a, b = 1, 2`.
ExprPtr Parser::parse_tuple(bool with_condexpr) {
  int line = cur().line;
  ExprPtr first = parse_expression(with_condexpr);
  if (!is_op(",")) return first;
  expr::ListLit tuple;
  tuple.items.push_back(std::move(first));
  while (skip_op(",")) {
    if (at_expression_end()) break;
    tuple.items.push_back(parse_expression(with_condexpr));
  }
  return make(line, std::move(tuple));
}

bool Parser::at_expression_end() const {
  TokenKind k = cur().kind;
  return k == TokenKind::var_end || k == TokenKind::block_end || k == TokenKind::eof ||
         (k == TokenKind::op && (cur().text == ")" || cur().text == "]" || cur().text == "}"));
}

ExprPtr Parser::parse_expression(bool with_condexpr) {
  const Nest nest(*this, expression_nesting_, kMaxExpressionNesting, "expressions");
  int line = cur().line;
  ExprPtr e = parse_or();
  while (with_condexpr && skip_name("if")) {
    ExprPtr cond = parse_or();
    ExprPtr otherwise = skip_name("else") ? parse_expression(true) : nullptr;
    e = make(line, expr::Conditional{std::move(cond), std::move(e), std::move(otherwise)});
  }
  return e;
}

ExprPtr Parser::parse_or() {
  int line = cur().line;
  ExprPtr e = parse_and();
  while (skip_name("or")) e = make(line, expr::Binary{Op::or_, std::move(e), parse_and()});
  return e;
}

ExprPtr Parser::parse_and() {
  int line = cur().line;
  ExprPtr e = parse_not();
  while (skip_name("and")) e = make(line, expr::Binary{Op::and_, std::move(e), parse_not()});
  return e;
}

ExprPtr Parser::parse_not() {
  const Nest nest(*this, expression_nesting_, kMaxExpressionNesting, "expressions");
  int line = cur().line;
  if (skip_name("not")) return make(line, expr::Unary{'!', parse_not()});
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  int line = cur().line;
  ExprPtr first = parse_math1();
  expr::Compare cmp;
  while (true) {
    static const std::pair<const char*, Op> kOps[] = {{"==", Op::eq}, {"!=", Op::ne}, {"<", Op::lt},
                                                     {"<=", Op::le}, {">", Op::gt}, {">=", Op::ge}};
    bool matched = false;
    for (const auto& [text, op] : kOps) {
      if (skip_op(text)) {
        cmp.rest.emplace_back(op, parse_math1());
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (skip_name("in")) {
      cmp.rest.emplace_back(Op::in, parse_math1());
    } else if (is_name("not") && peek().kind == TokenKind::name && peek().text == "in") {
      i_ += 2;
      cmp.rest.emplace_back(Op::not_in, parse_math1());
    } else {
      break;
    }
  }
  if (cmp.rest.empty()) return first;
  cmp.first = std::move(first);
  return make(line, std::move(cmp));
}

ExprPtr Parser::parse_math1() {
  int line = cur().line;
  ExprPtr e = parse_concat();
  while (is_op("+") || is_op("-")) {
    Op op = t_[i_++].text == "+" ? Op::add : Op::sub;
    e = make(line, expr::Binary{op, std::move(e), parse_concat()});
  }
  return e;
}

ExprPtr Parser::parse_concat() {
  int line = cur().line;
  ExprPtr e = parse_math2();
  while (skip_op("~")) e = make(line, expr::Binary{Op::concat, std::move(e), parse_math2()});
  return e;
}

ExprPtr Parser::parse_math2() {
  int line = cur().line;
  ExprPtr e = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    const std::string& t = t_[i_++].text;
    Op op = t == "*" ? Op::mul : t == "/" ? Op::div : t == "//" ? Op::floordiv : Op::mod;
    e = make(line, expr::Binary{op, std::move(e), parse_pow()});
  }
  return e;
}

ExprPtr Parser::parse_pow() {
  int line = cur().line;
  ExprPtr e = parse_unary(true);
  while (skip_op("**")) e = make(line, expr::Binary{Op::pow, std::move(e), parse_unary(true)});
  return e;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  const Nest nest(*this, expression_nesting_, kMaxExpressionNesting, "expressions");
  int line = cur().line;
  ExprPtr e;
  if (is_op("-") || is_op("+")) {
    char op = t_[i_++].text[0];
    e = make(line, expr::Unary{op, parse_unary(false)});
  } else {
    e = parse_postfix(parse_primary());
  }
  return with_filter ? parse_filter_expr(std::move(e)) : std::move(e);
}


ExprPtr Parser::parse_primary() {
  const Token& t = cur();
  const int line = t.line;
  switch (t.kind) {
    case TokenKind::name: {
      ++i_;
      if (t.text == "true" || t.text == "True") return make(line, expr::Literal{Value(true)});
      if (t.text == "false" || t.text == "False") return make(line, expr::Literal{Value(false)});
      if (t.text == "none" || t.text == "None") return make(line, expr::Literal{Value(nullptr)});
      return make(line, expr::Name{t.text});
    }
    case TokenKind::string: {
      // Adjacent literals concatenate, as in Python: "a" "b".
      std::string s;
      while (cur().kind == TokenKind::string) s += t_[i_++].text;
      return make(line, expr::Literal{Value(std::move(s))});
    }
    case TokenKind::integer: ++i_; return make(line, expr::Literal{Value(t.int_value)});
    case TokenKind::floating: ++i_; return make(line, expr::Literal{Value(t.float_value)});
    default: break;
  }
  if (skip_op("(")) {
    if (skip_op(")")) return make(line, expr::ListLit{});
    ExprPtr e = parse_expression(true);
    if (is_op(",")) {
      expr::ListLit tuple;
      tuple.items.push_back(std::move(e));
      while (skip_op(",") && !is_op(")")) tuple.items.push_back(parse_expression(true));
      e = make(line, std::move(tuple));
    }
    expect_op(")");
    return e;
  }
  if (skip_op("[")) {
    expr::ListLit list;
    while (!skip_op("]")) {
      if (!list.items.empty()) expect_op(",");
      if (skip_op("]")) break;
      list.items.push_back(parse_expression(true));
    }
    return make(line, std::move(list));
  }
  if (skip_op("{")) {
    expr::DictLit dict;
    while (!skip_op("}")) {
      if (!dict.items.empty()) expect_op(",");
      if (skip_op("}")) break;
      ExprPtr key = parse_expression(true);
      expect_op(":");
      dict.items.emplace_back(std::move(key), parse_expression(true));
    }
    return make(line, std::move(dict));
  }
  fail("unexpected " + describe(t));
}

ExprPtr Parser::parse_postfix(ExprPtr e) {
  while (true) {
    if (is_op(".") || is_op("[")) {
      e = parse_subscript(std::move(e));
    } else if (is_op("(")) {
      int line = cur().line;
      ++i_;
      e = make(line, expr::Call{std::move(e), parse_call_args()});
    } else {
      return e;
    }
  }
}

ExprPtr Parser::parse_subscript(ExprPtr e) {
  const int line = cur().line;
  if (skip_op(".")) {
    if (cur().kind == TokenKind::name) return make(line, expr::Attr{std::move(e), t_[i_++].text});
    if (cur().kind == TokenKind::integer) {
      ExprPtr key = make(line, expr::Literal{Value(t_[i_++].int_value)});
      return make(line, expr::Item{std::move(e), std::move(key)});
    }
    fail("expected a name after '.', got " + describe(cur()));
  }
  expect_op("[");
  ExprPtr parts[3];
  int n = 0;
  bool is_slice = false;
  while (true) {
    if (!is_op(":") && !is_op("]")) parts[n] = parse_expression(true);
    if (is_op("]")) break;
    expect_op(":");
    is_slice = true;
    if (++n > 2) fail("too many ':' in slice");
  }
  expect_op("]");
  if (!is_slice) return make(line, expr::Item{std::move(e), std::move(parts[0])});
  return make(line, expr::Slice{std::move(e), std::move(parts[0]), std::move(parts[1]), std::move(parts[2])});
}

ExprPtr Parser::parse_filter_expr(ExprPtr e) {
  while (true) {
    if (is_op("|")) {
      ++i_;
      e = parse_filter(std::move(e));
    } else if (is_name("is")) {
      ++i_;
      e = parse_test(std::move(e));
    } else if (is_op("(")) {
      int line = cur().line;
      ++i_;
      e = make(line, expr::Call{std::move(e), parse_call_args()});
    } else {
      return e;
    }
  }
}

ExprPtr Parser::parse_filter(ExprPtr operand) {
  const int line = cur().line;
  std::string name = expect_name();
  while (is_op(".")) {
    ++i_;
    name += '.';
    name += expect_name();
  }
  FilterFn fn = find_filter(name);
  if (!fn) fail("no filter named '" + name + "'", line);
  CallArgs args;
  if (skip_op("(")) args = parse_call_args();
  return make(line, expr::Filter{std::move(operand), fn, std::move(name), std::move(args)});
}

ExprPtr Parser::parse_test(ExprPtr operand) {
  const int line = cur().line;
  bool negated = skip_name("not");
  std::string name = expect_name();
  TestFn fn = find_test(name);
  if (!fn) fail("no test named '" + name + "'", line);
  CallArgs args;
  if (skip_op("(")) {
    args = parse_call_args();
  } else if ((cur().kind == TokenKind::name || cur().kind == TokenKind::string ||
              cur().kind == TokenKind::integer || cur().kind == TokenKind::floating ||
              is_op("[") || is_op("{")) &&
             !is_name("else") && !is_name("or") && !is_name("and")) {
    // jinja2 takes one bare argument: `x is divisibleby 3`, `x is sameas false`.
    if (is_name("is")) fail("you cannot chain multiple tests with is");
    args.positional.push_back(parse_postfix(parse_primary()));
  }
  return make(line, expr::Test{std::move(operand), fn, std::move(name), std::move(args), negated});
}

// After "(": positional arguments, then name=value ones; consumes the closing ")".
CallArgs Parser::parse_call_args() {
  CallArgs args;
  bool first = true;
  while (!skip_op(")")) {
    if (!first) expect_op(",");
    first = false;
    if (skip_op(")")) break;
    if (cur().kind == TokenKind::name && peek().kind == TokenKind::op && peek().text == "=") {
      std::string name = t_[i_].text;
      i_ += 2;
      args.named.emplace_back(std::move(name), parse_expression(true));
    } else {
      if (!args.named.empty()) fail("positional argument follows keyword argument");
      args.positional.push_back(parse_expression(true));
    }
  }
  return args;
}

}  // namespace troupe::jinja
