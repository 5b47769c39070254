#include "engine/template/evaluator.h"

#include "engine/template/operations.h"
#include "engine/template/py_format.h"
#include "engine/template/template_error.h"

namespace troupe::jinja {
namespace {

template <class... F>
struct Overload : F... {
  using F::operator()...;
};
template <class... F>
Overload(F...) -> Overload<F...>;

[[noreturn]] void fail_at(int line, const std::string& what) {
  throw TemplateError("line " + std::to_string(line) + ": " + what);
}

// jinja2's `loop` variable for one iteration.
Value make_loop(const List& items, size_t i) {
  const int64_t n = static_cast<int64_t>(items.size());
  const int64_t index0 = static_cast<int64_t>(i);
  Dict loop;
  loop.set("index0", index0);
  loop.set("index", index0 + 1);
  loop.set("revindex0", n - index0 - 1);
  loop.set("revindex", n - index0);
  loop.set("first", i == 0);
  loop.set("last", index0 == n - 1);
  loop.set("length", n);
  loop.set("depth", 1);
  loop.set("depth0", 0);
  loop.set("previtem", i > 0 ? items[i - 1] : Value::undefined("there is no previous item"));
  loop.set("nextitem", index0 + 1 < n ? items[i + 1] : Value::undefined("there is no next item"));
  loop.set("cycle", Value::function("cycle", [index0](const Args& a) -> Value {
    if (a.positional.empty()) throw RenderError("no items for cycling given");
    return a.positional[static_cast<size_t>(index0) % a.positional.size()];
  }));
  return loop;
}

}  // namespace

Renderer::Renderer(const Dict& globals, const Dict& context) : globals_(globals) {
  for (const auto& [k, v] : context) root_[k] = v;
  scopes_.push_back(&root_);
}

std::string Renderer::render(const Body& body) {
  std::string out;
  try {
    exec_body(body, out);
  } catch (const RaisedError& e) {
    throw TemplateError(e.what());
  }
  return out;
}

Value Renderer::lookup(const std::string& name) const {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
    auto hit = (*it)->find(name);
    if (hit != (*it)->end()) return hit->second;
  }
  if (const Value* g = globals_.find(name)) return *g;
  return Value::undefined(single_quoted(name) + " is undefined");
}

void Renderer::assign(const std::string& name, Value v) { (*scopes_.back())[name] = std::move(v); }

Renderer::Flow Renderer::exec_body(const Body& body, std::string& out) {
  for (const Stmt& s : body) {
    Flow f = exec(s, out);
    if (f != Flow::normal) return f;
  }
  return Flow::normal;
}

Renderer::Flow Renderer::exec(const Stmt& s, std::string& out) {
  try {
    return std::visit(
        Overload{
            [&](const stmt::Text& t) { out += t.text; return Flow::normal; },
            [&](const stmt::Print& p) { py_str(eval(*p.expr), out); return Flow::normal; },
            [&](const stmt::If& i) { return exec_if(i, out); },
            [&](const stmt::For& f) { return exec_for(f, out); },
            [&](const stmt::Set& set) { exec_set(set); return Flow::normal; },
            [&](const stmt::SetBlock& set) {
              std::string captured;
              exec_body(set.body, captured);
              assign(set.target, apply_filters(set.filters, Value(std::move(captured))));
              return Flow::normal;
            },
            [&](const stmt::Macro& m) { define_macro(m); return Flow::normal; },
            [&](const stmt::FilterBlock& f) {
              std::string captured;
              exec_body(f.body, captured);
              py_str(apply_filters(f.filters, Value(std::move(captured))), out);
              return Flow::normal;
            },
            [&](const stmt::LoopControl& c) { return c.is_break ? Flow::break_loop : Flow::continue_loop; },
            [&](const stmt::CallBlock& c) { exec_call_block(c, out); return Flow::normal; },
            [&](const stmt::ScopeBlock& b) {
              Scope scope;
              Enter enter(scopes_, scope);
              exec_body(b.body, out);
              return Flow::normal;
            },
        },
        s.node);
  } catch (const RenderError& e) {
    fail_at(s.line, e.what());
  }
}

Renderer::Flow Renderer::exec_if(const stmt::If& s, std::string& out) {
  for (const auto& [cond, body] : s.branches)
    if (eval(*cond).truthy()) return exec_body(body, out);
  return exec_body(s.otherwise, out);
}

Renderer::Flow Renderer::exec_for(const stmt::For& s, std::string& out) {
  List all = iterate(eval(*s.iterable));
  List items;
  auto bind_targets = [&](Scope& scope, const Value& item) {
    if (s.targets.size() == 1) {
      scope[s.targets[0]] = item;
      return;
    }
    List parts = iterate(item);
    if (parts.size() != s.targets.size())
      throw RenderError("cannot unpack " + std::to_string(parts.size()) + " values into " +
                        std::to_string(s.targets.size()) + " names");
    for (size_t i = 0; i < parts.size(); ++i) scope[s.targets[i]] = parts[i];
  };
  // `for x in xs if cond`: filter first, so loop.length and loop.last count kept items only.
  if (s.condition) {
    for (const Value& item : all) {
      Scope probe;
      bind_targets(probe, item);
      Enter enter(scopes_, probe);
      if (eval(*s.condition).truthy()) items.push_back(item);
    }
  } else {
    items = std::move(all);
  }
  if (items.empty()) {
    Scope scope;
    Enter enter(scopes_, scope);
    return exec_body(s.otherwise, out);
  }
  for (size_t i = 0; i < items.size(); ++i) {
    Scope scope;
    bind_targets(scope, items[i]);
    scope["loop"] = make_loop(items, i);
    Enter enter(scopes_, scope);
    if (exec_body(s.body, out) == Flow::break_loop) break;
  }
  return Flow::normal;
}

void Renderer::exec_set(const stmt::Set& s) {
  Value v = eval(*s.value);
  if (!s.attr.empty()) {
    Value target = lookup(s.targets[0]);
    if (target.kind() != Value::Kind::ns) throw RenderError("cannot assign attribute on non-namespace object");
    target.ns().attrs.set(s.attr, std::move(v));
    return;
  }
  if (s.targets.size() == 1) {
    assign(s.targets[0], std::move(v));
    return;
  }
  List parts = iterate(v);
  if (parts.size() != s.targets.size())
    throw RenderError("cannot unpack " + std::to_string(parts.size()) + " values into " +
                      std::to_string(s.targets.size()) + " names");
  for (size_t i = 0; i < parts.size(); ++i) assign(s.targets[i], parts[i]);
}

void Renderer::define_macro(const stmt::Macro& m) {
  // The function lives in this render's scopes only, so capturing `this` is safe.
  assign(m.name, Value::function(m.name, [this, &m](const Args& args) { return call_macro(m, args); }));
}

Value Renderer::call_macro(const stmt::Macro& m, const Args& args) {
  return render_callable(m.name, m.params, m.defaults, m.body, {&root_}, args);
}

void Renderer::exec_call_block(const stmt::CallBlock& c, std::string& out) {
  // The caller body sees the scopes around the call block, which outlive the call.
  std::vector<Scope*> here = scopes_;
  Value caller = Value::function("caller", [this, &c, here](const Args& args) -> Value {
    return render_callable("caller", c.params, c.defaults, c.body, here, args);
  });
  const auto& call = std::get<expr::Call>(c.call->node);
  Value callee = require_defined(eval(*call.callee));
  if (callee.kind() != Value::Kind::function) throw RenderError(single_quoted(type_name(callee)) + " object is not callable");
  Args args = eval_args(call.args);
  args.named.emplace_back("caller", std::move(caller));
  py_str(callee.fn().call(args), out);
}

std::string Renderer::render_callable(const std::string& name, const std::vector<std::string>& params,
                                      const std::vector<ExprPtr>& defaults, const Body& body,
                                      std::vector<Scope*> outer, const Args& args) {
  if (args.positional.size() > params.size())
    throw RenderError("macro '" + name + "' takes not more than " + std::to_string(params.size()) + " argument(s)");
  if (call_depth_ >= kMaxCallDepth)
    throw RenderError("macro '" + name + "': calls nest deeper than " + std::to_string(kMaxCallDepth) + " levels");
  ++call_depth_;
  struct Leave {
    int& depth;
    ~Leave() { --depth; }
  } leave{call_depth_};
  Scope scope;
  for (const auto& [arg_name, v] : args.named) {
    bool known = arg_name == "caller";
    for (const std::string& p : params) known = known || p == arg_name;
    if (!known) throw RenderError("macro '" + name + "' takes no keyword argument '" + arg_name + "'");
    if (arg_name == "caller") scope["caller"] = v;
  }
  outer.push_back(&scope);
  std::swap(outer, scopes_);
  struct Restore {
    std::vector<Scope*>& scopes;
    std::vector<Scope*>& saved;
    ~Restore() { std::swap(scopes, saved); }
  } restore{scopes_, outer};
  for (size_t i = 0; i < params.size(); ++i) {
    if (const Value* v = args.get(i, params[i])) scope[params[i]] = *v;
    else if (defaults[i]) scope[params[i]] = eval(*defaults[i]);
    else scope[params[i]] = Value::undefined(single_quoted(params[i]) + " is undefined");
  }
  std::string out;
  exec_body(body, out);
  return out;
}

Value Renderer::apply_filters(const std::vector<expr::Filter>& filters, Value v) {
  for (const expr::Filter& f : filters) v = f.fn(v, eval_args(f.args));
  return v;
}

Args Renderer::eval_args(const CallArgs& args) {
  Args out;
  for (const ExprPtr& e : args.positional) out.positional.push_back(eval(*e));
  for (const auto& [name, e] : args.named) out.named.emplace_back(name, eval(*e));
  return out;
}

Value Renderer::eval(const Expr& e) {
  try {
    return eval_node(e);
  } catch (const RenderError& err) {
    fail_at(e.line, err.what());
  }
}

Value Renderer::eval_node(const Expr& e) {
  using expr::Op;
  return std::visit(
      Overload{
          [&](const expr::Literal& l) { return l.value; },
          [&](const expr::ListLit& l) {
            List items;
            for (const ExprPtr& item : l.items) items.push_back(eval(*item));
            return Value(std::move(items));
          },
          [&](const expr::DictLit& d) {
            Dict dict;
            for (const auto& [k, v] : d.items) {
              Value key = eval(*k);
              if (!key.is_string()) throw RenderError("only string keys are supported in dict literals");
              dict.set(key.str(), eval(*v));
            }
            return Value(std::move(dict));
          },
          [&](const expr::Name& n) { return lookup(n.name); },
          [&](const expr::Attr& a) { return get_attr(eval(*a.object), a.name); },
          [&](const expr::Item& i) {
            Value object = eval(*i.object);
            return get_item(object, eval(*i.key));
          },
          [&](const expr::Slice& s) {
            Value object = eval(*s.object);
            auto part = [&](const ExprPtr& p) { return p ? eval(*p) : Value(nullptr); };
            Value start = part(s.start), stop = part(s.stop), step = part(s.step);
            return get_slice(object, start, stop, step);
          },
          [&](const expr::Call& c) {
            Value callee = eval(*c.callee);
            require_defined(callee);
            if (callee.kind() != Value::Kind::function)
              throw RenderError(single_quoted(type_name(callee)) + " object is not callable");
            return callee.fn().call(eval_args(c.args));
          },
          [&](const expr::Filter& f) {
            Value operand = eval(*f.operand);
            return f.fn(operand, eval_args(f.args));
          },
          [&](const expr::Test& t) {
            Value operand = eval(*t.operand);
            return Value(t.fn(operand, eval_args(t.args)) != t.negated);
          },
          [&](const expr::Unary& u) {
            Value v = eval(*u.operand);
            if (u.op == '!') return Value(!v.truthy());
            require_defined(v);
            if (!v.is_number()) throw RenderError(std::string("bad operand type for unary ") + u.op + ": '" + type_name(v) + "'");
            if (u.op == '+') return v.kind() == Value::Kind::boolean ? Value(v.int_like()) : v;
            return v.kind() == Value::Kind::floating ? Value(-v.number()) : binary_op(Op::sub, Value(0), v);
          },
          [&](const expr::Binary& b) {
            Value lhs = eval(*b.lhs);
            if (b.op == Op::and_) return lhs.truthy() ? eval(*b.rhs) : lhs;
            if (b.op == Op::or_) return lhs.truthy() ? lhs : eval(*b.rhs);
            return binary_op(b.op, lhs, eval(*b.rhs));
          },
          [&](const expr::Compare& c) { return eval_compare(c); },
          [&](const expr::Conditional& c) {
            if (eval(*c.condition).truthy()) return eval(*c.then);
            return c.otherwise ? eval(*c.otherwise) : Value::undefined("the inline if-expression evaluated to false and no else section was defined.");
          },
      },
      e.node);
}

Value Renderer::eval_compare(const expr::Compare& c) {
  using expr::Op;
  Value lhs = eval(*c.first);
  for (const auto& [op, rhs_expr] : c.rest) {
    Value rhs = eval(*rhs_expr);
    bool ok = false;
    switch (op) {
      case Op::eq: ok = py_equal(lhs, rhs); break;
      case Op::ne: ok = !py_equal(lhs, rhs); break;
      case Op::lt: ok = py_compare(lhs, rhs) < 0; break;
      case Op::le: ok = py_compare(lhs, rhs) <= 0; break;
      case Op::gt: ok = py_compare(lhs, rhs) > 0; break;
      case Op::ge: ok = py_compare(lhs, rhs) >= 0; break;
      case Op::in: ok = contains(rhs, lhs); break;
      case Op::not_in: ok = !contains(rhs, lhs); break;
      default: break;
    }
    if (!ok) return Value(false);
    lhs = std::move(rhs);
  }
  return Value(true);
}

}  // namespace troupe::jinja
