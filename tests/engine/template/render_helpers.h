#pragma once
// Test helpers: render a template source against a JSON context written inline. The context
// is parsed as ordered_json so that dict key order reaches the template as written.
#include <string>
#include <string_view>

#include "engine/template/chat_template.h"

namespace troupe::test {

inline std::string render(std::string_view source, std::string_view context_json = "{}") {
  return ChatTemplate::parse(source).render(nlohmann::ordered_json::parse(context_json));
}

// The message of the TemplateError that parsing or rendering throws; "" if none is thrown.
inline std::string render_error(std::string_view source, std::string_view context_json = "{}") {
  try {
    render(source, context_json);
  } catch (const TemplateError& e) {
    return e.what();
  }
  return "";
}

}  // namespace troupe::test
