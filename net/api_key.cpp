#include "net/api_key.h"

#include <algorithm>
#include <fstream>
#include <stdexcept>

namespace troupe::net {

// Constant time by construction: the loop visits every index up to the longer length whatever
// the bytes hold; each step ORs the XOR of two bytes into the accumulator, with no branch on
// their values; and the result is read once, after the loop. A shorter input is padded with
// zeros, and the lengths' XOR is folded in first, so "abc" vs "abc\0" still differs. The
// accumulator is volatile so the optimizer cannot turn "once it is non-zero it stays non-zero"
// into an early exit. What the time does reveal is max(len(a), len(b)): a key's length, not its
// content, the usual trade-off for keys of unknown length.
bool keys_equal(std::string_view a, std::string_view b) {
  const size_t n = std::max(a.size(), b.size());
  volatile size_t diff = a.size() ^ b.size();
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = diff | static_cast<size_t>(x ^ y);
  }
  return diff == 0;
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  constexpr std::string_view scheme = "bearer";
  if (authorization.size() <= scheme.size()) return std::nullopt;
  for (size_t i = 0; i < scheme.size(); ++i) {
    const char c = authorization[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != scheme[i]) return std::nullopt;
  }
  std::string_view rest = authorization.substr(scheme.size());
  const size_t token = rest.find_first_not_of(' ');
  if (token == 0) return std::nullopt;  // "Bearerx...": another scheme
  if (token == std::string_view::npos) return std::string_view();
  return rest.substr(token);
}

bool authorization_matches(std::string_view authorization, std::string_view key) {
  const auto token = bearer_token(authorization);
  return token && keys_equal(*token, key);
}

namespace {

std::string read_key_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::string line;
  if (!in || !std::getline(in, line))
    throw std::invalid_argument("--api-key-file " + file + ": cannot read the file (or it is empty)");
  line.erase(line.find_last_not_of(" \t\r\n\v\f") + 1);  // npos + 1 == 0: all blank -> empty
  if (line.empty()) throw std::invalid_argument("--api-key-file " + file + ": its first line holds no key");
  return line;
}

}  // namespace

ApiKey resolve_api_key(const std::string& flag, const std::string& file,
                       const std::function<const char*(const char*)>& getenv) {
  if (!flag.empty() && !file.empty())
    throw std::invalid_argument("give the API key with --api-key or with --api-key-file, not both");
  if (!flag.empty()) return {flag, "--api-key"};
  if (!file.empty()) return {read_key_file(file), "--api-key-file " + file};
  for (const char* name : {"TROUPE_API_KEY", "VLLM_API_KEY"})
    if (const char* value = getenv(name); value && *value) return {value, name};
  return {};
}

}  // namespace troupe::net
