#include "actors/troupe_error.h"

#include <caf/message.hpp>

namespace troupe {

std::string to_string(troupe_error code) {
  switch (code) {
    case troupe_error::invalid_request: return "invalid_request";
    case troupe_error::step_failed: return "step_failed";
    case troupe_error::executor_refused: return "executor_refused";
    case troupe_error::executor_replaced: return "executor_replaced";
    case troupe_error::engine_lost: return "engine_lost";
    case troupe_error::shutting_down: return "shutting_down";
    case troupe_error::node_refused: return "node_refused";
  }
  // A code from a newer peer: still says which number it was.
  return "troupe_error_" + std::to_string(static_cast<int>(code));
}

std::optional<troupe_error> troupe_error_code(const caf::error& err) {
  if (!err || err.category() != troupe_error_category) return std::nullopt;
  return static_cast<troupe_error>(err.code());
}

std::string error_message(const caf::error& err) {
  if (!err) return {};
  const caf::message& ctx = err.context();
  if (ctx.match_elements<std::string>()) return ctx.get_as<std::string>(0);
  return {};
}

std::string render_troupe_error(uint8_t code, caf::atom_value, const caf::message& context) {
  std::string out = to_string(static_cast<troupe_error>(code));
  if (context.match_elements<std::string>()) out += ": " + context.get_as<std::string>(0);
  else if (!context.empty()) out += ": " + to_string(context);
  return out;
}

}  // namespace troupe
