#pragma once
// Reading a client's JSON with bounded nesting, and quoting client values in error messages with
// bounded size. Every route that takes a JSON body parses it here.
//
// Why a depth limit: nlohmann's parser is iterative and its destructor is too, but nearly
// everything done with a value afterwards recurses once per level — copying it, converting it
// between json and ordered_json, dump(), operator==, the chat template's conversion. A 50 KB body
// nested 25,000 levels deep overflowed the stack in such a walk and killed the server. Refusing
// depth while parsing bounds every later walk at once, wherever it is. 64 levels is far beyond
// any real request (an OpenAI chat with tool-call arguments nests about 8) and small enough that
// a walk of it costs a few KiB of stack.
//
// The parse is also linear in the body: nlohmann's ordered_json searches an object's keys on
// every insert, quadratic in a client's object (see json_body.cpp).
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "net/api_error.h"

namespace troupe::net {

// The most levels of arrays and objects a body may nest; the body itself is level 1.
inline constexpr int kMaxJsonDepth = 64;

// Thrown by parse_json_bounded when a value opens level kMaxJsonDepth + 1.
struct JsonTooDeep : std::runtime_error {
  JsonTooDeep();
};

// What nlohmann's parse gives (and throws, for malformed JSON and 1e309), but also throws
// JsonTooDeep as soon as an array or object would open past kMaxJsonDepth levels, so nothing
// deeper is ever built; and an ordered_json object of n keys takes O(n) to build, not nlohmann's
// O(n^2). Json: nlohmann::json or nlohmann::ordered_json.
template <class Json>
Json parse_json_bounded(std::string_view text);

// The body as a JSON object, or a 400 saying why not: not JSON (nlohmann's message, cut short),
// nested deeper than kMaxJsonDepth ("the body nests deeper than 64 levels"), not an object.
std::variant<nlohmann::ordered_json, ApiError> parse_json_object(std::string_view body);

// At most `max_bytes` of `text` (cut at a UTF-8 character boundary) followed by "..." when cut:
// for client text quoted back in an error message.
std::string truncate_for_message(std::string_view text, size_t max_bytes);

// A client's value for an error message: a string as it is, anything else as compact JSON, cut
// by truncate_for_message. ("the model 'x' does not exist" must not echo a megabyte back.)
std::string json_excerpt(const nlohmann::ordered_json& value, size_t max_bytes = 128);

}  // namespace troupe::net
