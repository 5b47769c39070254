#include "engine/cluster/server_section.h"

#include <algorithm>
#include <cctype>

namespace troupe {

bool is_metrics_prefix(std::string_view p) {
  auto alnum_ = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  return !p.empty() && std::all_of(p.begin(), p.end(), alnum_) && !std::isdigit(static_cast<unsigned char>(p[0]));
}

}  // namespace troupe
