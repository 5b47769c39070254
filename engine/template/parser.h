#pragma once
// Parser: tokens -> statement tree, following jinja2's grammar and operator precedence
// (jinja2/parser.py): `|` filters and `is` tests bind tighter than arithmetic, so
// `messages|length - 1` is `(messages|length) - 1`.
#include <memory>
#include <string_view>

#include "engine/template/ast.h"

namespace troupe::jinja {

// Throws TemplateError("line N: ...") on a syntax error, an unknown tag, filter or test.
std::shared_ptr<const Body> parse_template(std::string_view source);

}  // namespace troupe::jinja
