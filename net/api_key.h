#pragma once
// The server's API key: where it comes from, and checking a request's Authorization header
// against it without leaking, through the time the check takes, how much of a guess was right.
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace troupe::net {

// a == b, in a time that depends on the two lengths only, never on the bytes' values.
bool keys_equal(std::string_view a, std::string_view b);

// The credentials of "Authorization: Bearer <token>": the scheme in any case ("bearer",
// "BEARER"; RFC 9110 makes schemes case-insensitive), then one or more spaces. nullopt for any
// other scheme or a missing header.
std::optional<std::string_view> bearer_token(std::string_view authorization);

// Whether an Authorization header value carries `key` as a bearer token.
bool authorization_matches(std::string_view authorization, std::string_view key);

struct ApiKey {
  std::string key;     // empty: no key, every route is open
  std::string source;  // for the log, never the key: "--api-key", "--api-key-file FILE", "TROUPE_API_KEY", ...
};

// The key `troupe serve` requires, from the first of: --api-key (`flag`), --api-key-file (`file`:
// its first line, trailing whitespace stripped), $TROUPE_API_KEY, $VLLM_API_KEY (vLLM's name, so
// a deployment written for vLLM keeps working). Empty values count as not given. Throws
// std::invalid_argument when both flags are given, or the file cannot be read or holds no key
// (naming the file). `getenv` is std::getenv outside tests.
ApiKey resolve_api_key(const std::string& flag, const std::string& file,
                       const std::function<const char*(const char*)>& getenv = std::getenv);

}  // namespace troupe::net
