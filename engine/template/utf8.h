#pragma once
// Python string semantics over UTF-8 bytes. Templates index, slice, measure and strip strings
// by code point (Python `str`), while the engine keeps UTF-8 everywhere; these helpers bridge
// the two so that `content[:5]`, `|length` and `.strip()` agree with transformers on CJK/emoji.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::jinja {

// Invalid UTF-8 bytes decode to U+FFFD so that rendering never throws on bad input text.
std::u32string utf8_decode(std::string_view text);
std::string utf8_encode(std::u32string_view text);
size_t utf8_length(std::string_view text);

// Exactly the set for which Python's str.isspace() is true (what str.strip() removes).
bool py_isspace(char32_t cp);

// chars empty means "whitespace", as Python's strip(None); otherwise strip any of `chars`.
std::string py_strip(std::string_view text, std::string_view chars, bool left, bool right);
std::string_view py_lstrip_space(std::string_view text);
std::string_view py_rstrip_space(std::string_view text);

// Simple (one-to-one) case mappings from utf8proc; Python's full mappings (ß -> SS) differ.
std::string py_upper(std::string_view text);
std::string py_lower(std::string_view text);
std::string py_capitalize(std::string_view text);
// Python str.title(): a letter after a cased letter is lowered, any other letter is uppered.
std::string py_title(std::string_view text);

}  // namespace troupe::jinja
