#pragma once
// Renderer: walks the statement tree once per render, with jinja2's scoping: a `for` body
// gets a fresh scope on every iteration (so a `set` inside a loop is gone after it, which is
// why templates carry state out of loops in a namespace), `if` opens no scope, and a macro
// body sees the template's top-level names plus its own parameters.
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/template/ast.h"
#include "engine/template/value.h"

namespace troupe::jinja {

class Renderer {
 public:
  // `globals` must outlive the renderer; `context` names shadow globals.
  Renderer(const Dict& globals, const Dict& context);
  // Throws TemplateError: "line N: ..." for failures, the bare message for raise_exception.
  std::string render(const Body& body);

 private:
  using Scope = std::unordered_map<std::string, Value>;
  enum class Flow { normal, break_loop, continue_loop };
  // Makes `scope` the innermost one for its lifetime.
  struct Enter {
    Enter(std::vector<Scope*>& scopes, Scope& scope) : scopes(scopes) { scopes.push_back(&scope); }
    ~Enter() { scopes.pop_back(); }
    std::vector<Scope*>& scopes;
  };

  Flow exec_body(const Body& body, std::string& out);
  Flow exec(const Stmt& s, std::string& out);
  Flow exec_if(const stmt::If& s, std::string& out);
  Flow exec_for(const stmt::For& s, std::string& out);
  void exec_set(const stmt::Set& s);
  void define_macro(const stmt::Macro& m);
  Value call_macro(const stmt::Macro& m, const Args& args);
  void exec_call_block(const stmt::CallBlock& c, std::string& out);
  // Runs `body` with `params` bound from `args` in a scope above `outer`: macros and callers.
  std::string render_callable(const std::string& name, const std::vector<std::string>& params,
                              const std::vector<ExprPtr>& defaults, const Body& body,
                              std::vector<Scope*> outer, const Args& args);
  Value apply_filters(const std::vector<expr::Filter>& filters, Value v);

  Value eval(const Expr& e);
  Value eval_node(const Expr& e);
  Args eval_args(const CallArgs& args);
  Value eval_compare(const expr::Compare& c);

  Value lookup(const std::string& name) const;
  void assign(const std::string& name, Value v);

  const Dict& globals_;
  Scope root_;                  // the context plus top-level `set`s
  std::vector<Scope*> scopes_;  // innermost last; scopes_[0] is &root_
  int call_depth_ = 0;          // macros and callers running, one inside the other
};

// Macros may call each other (and themselves) this deep: the render recurses once per call, and a
// macro with no base case would otherwise end the process instead of the request (jinja2 stops
// at Python's recursion limit).
inline constexpr int kMaxCallDepth = 64;

}  // namespace troupe::jinja
