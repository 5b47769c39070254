#pragma once
// The Python operations that jinja2 compiles expressions into: attribute and item lookup with
// jinja2's fallbacks (`a.b` tries the attribute, then the key; a miss is undefined, not an
// error), slicing, iteration, len(), `in`, and the arithmetic operators.
#include <string>

#include "engine/template/ast.h"
#include "engine/template/value.h"

namespace troupe::jinja {

// Python iter(): a list's items, a dict's keys, a string's characters; undefined is empty.
List iterate(const Value& v);
int64_t py_len(const Value& v);
Value get_attr(const Value& object, const std::string& name);
Value get_item(const Value& object, const Value& key);
// Unset parts are undefined (Python None).
Value get_slice(const Value& object, const Value& start, const Value& stop, const Value& step);
bool contains(const Value& container, const Value& item);
// + - * / // % ** ~ ; `and`/`or` short-circuit and are the evaluator's business.
Value binary_op(expr::Op op, const Value& a, const Value& b);

}  // namespace troupe::jinja
