#pragma once
// TemplateError: everything that can go wrong parsing or rendering a chat template. Parse
// errors start with "line N: "; so do render errors, except raise_exception(msg), whose message
// is exactly msg because templates use it to tell the user what they did wrong.
#include <stdexcept>

namespace troupe {

struct TemplateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace troupe
