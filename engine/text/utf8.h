#pragma once
// UTF-8 helpers shared by the tokenizer and the chat templates. Invalid input is never rejected: it is repaired the
// way Rust's String::from_utf8_lossy does (one U+FFFD per maximal invalid subpart), because that is
// what Hugging Face `tokenizers` produces when decoding and we must match it byte for byte.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace troupe::utf8 {

inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// What starts at a byte offset: a whole valid code point, an invalid maximal subpart (to become one
// U+FFFD), or a valid but unfinished sequence cut off by the end of the input.
enum class Unit : uint8_t { kValid, kInvalid, kIncomplete };
struct Step {
  Unit unit;
  size_t length;  // bytes covered, always >= 1
};
Step next(std::string_view s, size_t pos);

bool is_valid(std::string_view s);
// from_utf8_lossy: a trailing incomplete sequence also becomes one U+FFFD.
std::string to_valid(std::string_view s);
// Bytes at the end of `s` that are a valid prefix of an unfinished code point (0..3): a streaming
// decoder holds these back until the next token completes or breaks them.
size_t incomplete_tail(std::string_view s);

// Decodes the code point at `pos` of valid UTF-8 and advances `pos`.
char32_t decode(std::string_view s, size_t& pos);
void append(std::string& out, char32_t cp);

}  // namespace troupe::utf8
