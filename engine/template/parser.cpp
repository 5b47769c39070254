// Statements: `{% tag ... %}` bodies, nesting, and the error messages for unclosed blocks.
#include "engine/template/parser.h"

#include "engine/template/parser_impl.h"

namespace troupe::jinja {

// Parses until `{% <one of end_tags>`; returns the body and the end tag found (its name is
// consumed, the rest of that tag is left to the caller). At top level end_tags is empty.
std::pair<Body, std::string> Parser::parse_body(std::initializer_list<const char*> end_tags) {
  const Nest nest(*this, block_nesting_, kMaxBlockNesting, "blocks");
  auto expected = [&] {
    std::string list;
    for (const char* tag : end_tags) list += (list.empty() ? "'" : " or '") + std::string(tag) + "'";
    const auto& [opener, line] = open_blocks_.back();
    return "expected " + list + " to close the '" + opener + "' at line " + std::to_string(line);
  };
  Body body;
  while (true) {
    const Token& t = cur();
    if (t.kind == TokenKind::eof) {
      if (end_tags.size() == 0) return {std::move(body), ""};
      fail("unexpected end of template, " + expected());
    }
    if (t.kind == TokenKind::text) {
      body.push_back(Stmt{t.line, stmt::Text{t.text}});
      ++i_;
    } else if (t.kind == TokenKind::var_begin) {
      ++i_;
      ExprPtr e = parse_tuple(true);
      if (cur().kind != TokenKind::var_end) fail("unexpected " + describe(cur()) + " in print statement");
      ++i_;
      body.push_back(Stmt{t.line, stmt::Print{std::move(e)}});
    } else if (t.kind == TokenKind::block_begin) {
      ++i_;
      const Token& tag = cur();
      if (tag.kind != TokenKind::name) fail("expected a tag name, got " + describe(tag));
      for (const char* end : end_tags) {
        if (tag.text == end) {
          ++i_;
          return {std::move(body), tag.text};
        }
      }
      static const char* const kClosers[] = {"elif", "else", "endif", "endfor", "endset", "endmacro",
                                             "endfilter", "endcall", "endgeneration", "endraw"};
      for (const char* closer : kClosers)
        if (tag.text == closer)
          fail("unexpected " + single_quoted(tag.text) + (end_tags.size() ? ", " + expected() : std::string()));
      parse_statement(body);
    } else {
      fail("unexpected " + describe(t));
    }
  }
}

void Parser::parse_statement(Body& body) {
  const Token& tag = cur();
  const int line = tag.line;
  const std::string name = tag.text;
  ++i_;
  open_blocks_.emplace_back(name, line);
  struct Close {
    std::vector<std::pair<std::string, int>>& blocks;
    ~Close() { blocks.pop_back(); }
  } close{open_blocks_};
  if (name == "if") {
    stmt::If node;
    ExprPtr cond = parse_tuple(false);
    expect_block_end();
    while (true) {
      auto [branch, end] = parse_body({"elif", "else", "endif"});
      node.branches.emplace_back(std::move(cond), std::move(branch));
      if (end == "elif") {
        cond = parse_tuple(false);
        expect_block_end();
        continue;
      }
      if (end == "else") {
        expect_block_end();
        node.otherwise = parse_body({"endif"}).first;
      }
      expect_block_end();
      break;
    }
    body.push_back(Stmt{line, std::move(node)});
  } else if (name == "for") {
    stmt::For node;
    node.targets = parse_assign_names();
    if (!skip_name("in")) fail("expected 'in', got " + describe(cur()));
    node.iterable = parse_tuple(false);
    if (is_name("recursive")) fail("recursive loops are not supported");
    if (skip_name("if")) node.condition = parse_expression(true);
    expect_block_end();
    auto [loop_body, end] = parse_body({"else", "endfor"});
    node.body = std::move(loop_body);
    if (end == "else") {
      expect_block_end();
      node.otherwise = parse_body({"endfor"}).first;
    }
    expect_block_end();
    body.push_back(Stmt{line, std::move(node)});
  } else if (name == "set") {
    parse_set(line, body);
  } else if (name == "macro") {
    stmt::Macro node;
    node.name = expect_name();
    expect_op("(");
    parse_params(node.params, node.defaults);
    expect_block_end();
    node.body = parse_body({"endmacro"}).first;
    if (cur().kind == TokenKind::name) ++i_;  // {% endmacro name %}
    expect_block_end();
    body.push_back(Stmt{line, std::move(node)});
  } else if (name == "call") {
    stmt::CallBlock node;
    if (skip_op("(")) parse_params(node.params, node.defaults);
    node.call = parse_expression(true);
    if (!std::holds_alternative<expr::Call>(node.call->node)) fail("expected a macro call after 'call'", line);
    expect_block_end();
    node.body = parse_body({"endcall"}).first;
    expect_block_end();
    body.push_back(Stmt{line, std::move(node)});
  } else if (name == "filter") {
    stmt::FilterBlock node;
    node.filters = parse_filter_chain(false);
    expect_block_end();
    node.body = parse_body({"endfilter"}).first;
    expect_block_end();
    body.push_back(Stmt{line, std::move(node)});
  } else if (name == "break" || name == "continue") {
    expect_block_end();
    body.push_back(Stmt{line, stmt::LoopControl{name == "break"}});
  } else if (name == "generation") {
    // transformers' AssistantTracker marks assistant spans; rendered text is unaffected.
    expect_block_end();
    Body inner = parse_body({"endgeneration"}).first;
    expect_block_end();
    body.push_back(Stmt{line, stmt::ScopeBlock{std::move(inner)}});
  } else {
    fail("unknown tag '" + name + "'", line);
  }
}

void Parser::parse_set(int line, Body& body) {
  std::vector<std::string> targets;
  std::string attr;
  if (cur().kind == TokenKind::name && peek().kind == TokenKind::op && peek().text == ".") {
    targets.push_back(expect_name());
    ++i_;
    attr = expect_name();
  } else {
    targets = parse_assign_names();
  }
  if (skip_op("=")) {
    ExprPtr value = parse_tuple(true);
    expect_block_end();
    body.push_back(Stmt{line, stmt::Set{std::move(targets), std::move(attr), std::move(value)}});
    return;
  }
  if (targets.size() != 1 || !attr.empty()) fail("block set takes a single name");
  stmt::SetBlock node;
  node.target = targets[0];
  if (is_op("|")) node.filters = parse_filter_chain(true);
  expect_block_end();
  node.body = parse_body({"endset"}).first;
  expect_block_end();
  body.push_back(Stmt{line, std::move(node)});
}

// After "(": `name` or `name=default`, comma separated; consumes the closing ")".
void Parser::parse_params(std::vector<std::string>& names, std::vector<ExprPtr>& defaults) {
  while (!skip_op(")")) {
    if (!names.empty()) expect_op(",");
    if (skip_op(")")) break;
    names.push_back(expect_name());
    defaults.push_back(skip_op("=") ? parse_expression(true) : nullptr);
  }
}

std::vector<std::string> Parser::parse_assign_names() {
  std::vector<std::string> names;
  bool paren = skip_op("(");
  do {
    if (paren && is_op(")")) break;
    names.push_back(expect_name());
  } while (skip_op(","));
  if (paren) expect_op(")");
  return names;
}

// `f(args) | g` after a `filter` tag, or `| f | g` after a block set's name.
std::vector<expr::Filter> Parser::parse_filter_chain(bool leading_pipe) {
  std::vector<expr::Filter> chain;
  if (leading_pipe) expect_op("|");
  do {
    ExprPtr f = parse_filter(nullptr);
    chain.push_back(std::move(std::get<expr::Filter>(f->node)));
  } while (skip_op("|"));
  return chain;
}


std::shared_ptr<const Body> parse_template(std::string_view source) {
  Parser parser(tokenize(source));
  return std::make_shared<const Body>(parser.parse_all());
}

}  // namespace troupe::jinja
