#pragma once
// Python methods that templates call on values: str.strip/split/startswith/..., dict.items/
// get/..., list.index/count. Methods that mutate are refused as transformers' immutable
// sandbox refuses them: the lookup yields an undefined that fails when called.
#include <optional>
#include <string>
#include <vector>

#include "engine/template/value.h"

namespace troupe::jinja {

// The bound method `object.name`, or nullopt when the type has no such method.
std::optional<Value> get_method(const Value& object, const std::string& name);

// Python str.splitlines() (no keepends), shared with the indent filter.
std::vector<std::string> py_splitlines(const std::string& s);

}  // namespace troupe::jinja
