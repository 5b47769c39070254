#pragma once
// The names a server answers to (vLLM's --served-model-name A B ...): every one is accepted in a
// request's `model` and listed by /v1/models; the first is the one reported when a request names
// none. Built from one string where a single name is all there is (tests, a cluster's head).
#include <algorithm>
#include <string>
#include <vector>

namespace troupe::net {

struct ServedNames {
  std::vector<std::string> names;  // never empty once built; the first is the primary

  ServedNames() = default;
  ServedNames(std::vector<std::string> all) : names(std::move(all)) {}  // NOLINT: implicit on purpose
  ServedNames(std::string one) : names{std::move(one)} {}               // NOLINT
  ServedNames(const char* one) : names{one} {}                          // NOLINT

  const std::string& primary() const { return names.front(); }
  bool contains(const std::string& name) const { return std::find(names.begin(), names.end(), name) != names.end(); }
  // For an error: "'a'" or "'a', 'b'".
  std::string quoted() const {
    std::string out;
    for (const std::string& n : names) out += (out.empty() ? "'" : ", '") + n + "'";
    return out;
  }
};

}  // namespace troupe::net
