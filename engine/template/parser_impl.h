#pragma once
// Parser internals shared by parser.cpp (statements) and parser_expr.cpp (expressions).
#include <algorithm>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/template/ast.h"
#include "engine/template/lexer.h"
#include "engine/template/template_error.h"

namespace troupe::jinja {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  Body parse_all() {
    auto [body, end] = parse_body({});
    return std::move(body);
  }

 private:
  // ---- token helpers
  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t n = 1) const { return t_[std::min(i_ + n, t_.size() - 1)]; }
  bool is_op(const char* op) const { return cur().kind == TokenKind::op && cur().text == op; }
  bool is_name(const char* name) const { return cur().kind == TokenKind::name && cur().text == name; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    ++i_;
    return true;
  }
  bool skip_name(const char* name) {
    if (!is_name(name)) return false;
    ++i_;
    return true;
  }
  [[noreturn]] void fail(const std::string& what, int line = 0) const {
    throw TemplateError("line " + std::to_string(line ? line : cur().line) + ": " + what);
  }
  std::string describe(const Token& t) const {
    switch (t.kind) {
      case TokenKind::eof: return "end of template";
      case TokenKind::block_end: return "end of statement block";
      case TokenKind::var_end: return "end of print statement";
      case TokenKind::string: return "string";
      default: return "'" + t.text + "'";
    }
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail("expected '" + std::string(op) + "', got " + describe(cur()));
  }
  std::string expect_name() {
    if (cur().kind != TokenKind::name) fail("expected a name, got " + describe(cur()));
    return t_[i_++].text;
  }
  void expect_block_end() {
    if (cur().kind != TokenKind::block_end) fail("expected end of statement block, got " + describe(cur()));
    ++i_;
  }
  template <typename Node>
  ExprPtr make(int line, Node node) {
    auto e = std::make_unique<Expr>();
    e->line = line;
    e->node = std::move(node);
    return e;
  }

  // ---- statements
  // Parses until `{% <one of end_tags>`; returns the body and the end tag found (its name is
  // consumed, the rest of that tag is left to the caller). At top level end_tags is empty.
  std::pair<Body, std::string> parse_body(std::initializer_list<const char*> end_tags);
  void parse_statement(Body& body);
  void parse_set(int line, Body& body);
  void parse_params(std::vector<std::string>& names, std::vector<ExprPtr>& defaults);
  std::vector<std::string> parse_assign_names();
  // `f(args) | g` after a `filter` tag, or `| f | g` after a block set's name.
  std::vector<expr::Filter> parse_filter_chain(bool leading_pipe);

  // ---- expressions, loosest binding first
  // A bare comma list is a tuple where jinja2 allows one: `{{ a, b }}`, `set a, b = 1, 2`.
  ExprPtr parse_tuple(bool with_condexpr);
  bool at_expression_end() const;
  ExprPtr parse_expression(bool with_condexpr);
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  ExprPtr parse_postfix(ExprPtr e);
  ExprPtr parse_subscript(ExprPtr e);
  ExprPtr parse_filter_expr(ExprPtr e);
  ExprPtr parse_filter(ExprPtr operand);
  ExprPtr parse_test(ExprPtr operand);
  CallArgs parse_call_args();

  // Blocks, and brackets / unary operators within an expression, nest at most this deep: parsing,
  // rendering and freeing the tree recurse once per level, and a request's own chat_template is a
  // client's text. (Left-leaning chains such as a + b + c are bounded by their tag's tokens:
  // lexer.h's kMaxTagTokens.) Real templates nest a handful of levels.
  static constexpr int kMaxBlockNesting = 100;
  static constexpr int kMaxExpressionNesting = 256;  // a bracket counts two (expression, operand)
  int block_nesting_ = 0;
  int expression_nesting_ = 0;
  // One level of `depth` for a scope; past `max` the parse fails naming `what`.
  struct Nest {
    Nest(const Parser& p, int& depth, int max, const char* what) : depth_(depth) {
      if (depth >= max) p.fail(std::string(what) + " nest deeper than " + std::to_string(max) + " levels");
      ++depth;
    }
    ~Nest() { --depth_; }
    Nest(const Nest&) = delete;
    Nest& operator=(const Nest&) = delete;
    int& depth_;
  };

  std::vector<Token> t_;
  size_t i_ = 0;
  std::vector<std::pair<std::string, int>> open_blocks_;  // tag and line, for error messages
};

}  // namespace troupe::jinja
