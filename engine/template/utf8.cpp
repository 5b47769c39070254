#include "engine/template/utf8.h"

#include "engine/text/utf8.h"

#include <utf8proc.h>  // utf8proc_toupper / tolower / category: Unicode tables

namespace troupe::jinja {

std::u32string utf8_decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    utf8proc_int32_t cp = 0;
    auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                              static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (n <= 0) {
      out.push_back(0xFFFD);
      i += 1;
    } else {
      out.push_back(static_cast<char32_t>(cp));
      i += static_cast<size_t>(n);
    }
  }
  return out;
}

std::string utf8_encode(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text) utf8::append(out, cp);
  return out;
}

size_t utf8_length(std::string_view text) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

bool py_isspace(char32_t c) {
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

std::string py_strip(std::string_view text, std::string_view chars, bool left, bool right) {
  std::u32string s = utf8_decode(text);
  std::u32string set = utf8_decode(chars);
  auto strip_it = [&](char32_t c) {
    return chars.empty() ? py_isspace(c) : set.find(c) != std::u32string::npos;
  };
  size_t b = 0, e = s.size();
  if (left) while (b < e && strip_it(s[b])) ++b;
  if (right) while (e > b && strip_it(s[e - 1])) --e;
  return utf8_encode(std::u32string_view(s).substr(b, e - b));
}

// The two whitespace-only strips avoid a decode because the lexer runs them on every text run.
std::string_view py_lstrip_space(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    utf8proc_int32_t cp = 0;
    auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + i),
                              static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
    if (n <= 0 || !py_isspace(static_cast<char32_t>(cp))) break;
    i += static_cast<size_t>(n);
  }
  return text.substr(i);
}

std::string_view py_rstrip_space(std::string_view text) {
  size_t e = text.size();
  while (e > 0) {
    size_t b = e - 1;
    while (b > 0 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
    std::u32string cp = utf8_decode(text.substr(b, e - b));
    if (cp.size() != 1 || !py_isspace(cp[0])) break;
    e = b;
  }
  return text.substr(0, e);
}

namespace {
template <typename F>
std::string map_codepoints(std::string_view text, F f) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : utf8_decode(text)) utf8::append(out, f(c));
  return out;
}
char32_t to_upper(char32_t c) { return static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(c))); }
char32_t to_lower(char32_t c) { return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))); }
bool is_cased(char32_t c) { return to_upper(c) != c || to_lower(c) != c; }
}  // namespace

std::string py_upper(std::string_view text) { return map_codepoints(text, to_upper); }
std::string py_lower(std::string_view text) { return map_codepoints(text, to_lower); }

std::string py_capitalize(std::string_view text) {
  bool first = true;
  return map_codepoints(text, [&](char32_t c) {
    char32_t r = first ? to_upper(c) : to_lower(c);
    first = false;
    return r;
  });
}

std::string py_title(std::string_view text) {
  bool previous_cased = false;
  return map_codepoints(text, [&](char32_t c) {
    char32_t r = previous_cased ? to_lower(c) : to_upper(c);
    previous_cased = is_cased(c);
    return r;
  });
}

}  // namespace troupe::jinja
