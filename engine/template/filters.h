#pragma once
// The filters (`x|name(args)`) and tests (`x is name args`) that chat templates use, with
// jinja2's semantics, plus transformers' own `tojson`. Looked up once, at parse time.
#include <string_view>

#include "engine/template/ast.h"

namespace troupe::jinja {

// nullptr when jinja2 (as transformers configures it) has no such filter or test.
FilterFn find_filter(std::string_view name);
TestFn find_test(std::string_view name);

}  // namespace troupe::jinja
