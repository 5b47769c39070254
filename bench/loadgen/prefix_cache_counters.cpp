#include "bench/loadgen/prefix_cache_counters.h"

#include <cstdlib>
#include <string>

namespace troupe::loadgen {
namespace {

// The metric name of a sample line (before '{' or ' '), its value (after the last ' ').
bool sample(std::string_view line, std::string_view& name, double& value) {
  if (line.empty() || line.front() == '#') return false;
  const size_t end = line.find_first_of("{ ");
  const size_t space = line.rfind(' ');
  if (end == std::string_view::npos || space == std::string_view::npos) return false;
  name = line.substr(0, end);
  const std::string number(line.substr(space + 1));
  char* stop = nullptr;
  value = std::strtod(number.c_str(), &stop);
  return stop != number.c_str();
}

bool has_suffix(std::string_view name, std::string_view suffix) {
  return name.size() > suffix.size() && name.ends_with(suffix) && name[name.size() - suffix.size() - 1] == ':';
}

}  // namespace

std::optional<PrefixCacheCounters> parse_prefix_cache_counters(std::string_view text) {
  PrefixCacheCounters c;
  bool seen = false;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    std::string_view name;
    double value = 0;
    if (!sample(line, name, value)) continue;
    if (has_suffix(name, "prefix_cache_hits_total")) c.hits += value;
    if (has_suffix(name, "prefix_cache_queries_total")) {
      c.queries += value;
      seen = true;
    }
  }
  if (!seen) return std::nullopt;
  return c;
}

std::optional<double> hit_rate_between(const PrefixCacheCounters& before, const PrefixCacheCounters& after) {
  const double queries = after.queries - before.queries;
  if (queries <= 0) return std::nullopt;
  return (after.hits - before.hits) / queries;
}

}  // namespace troupe::loadgen
