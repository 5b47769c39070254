#pragma once
// A compiled PCRE2 pattern that behaves like the Oniguruma regexes Hugging Face `tokenizers` runs
// (Unicode properties, case folding, look-ahead). Compiled once at load; matching allocates its own
// match data, so one Regex is shared by every encoding thread.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct pcre2_real_code_8;

namespace troupe {

class Regex {
 public:
  // Throws std::invalid_argument carrying PCRE2's message and the offset of the error.
  explicit Regex(std::string_view pattern);
  ~Regex();
  Regex(Regex&& other) noexcept;
  Regex& operator=(Regex&& other) noexcept;
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the [begin, end) byte ranges of the successive non-overlapping matches in `text`, which
  // must be valid UTF-8. Empty matches are reported and then skipped past by one character, as
  // Oniguruma's iterator does. Throws std::runtime_error if PCRE2 gives up (resource limits).
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;

 private:
  pcre2_real_code_8* code_ = nullptr;
};

// Oniguruma's Unicode \s is the Z categories plus \t..\r and U+0085; PCRE2's also takes U+180E.
// Rewrites \s (and \S outside a character class) into that explicit set so both agree.
std::string oniguruma_whitespace(std::string_view pattern);

}  // namespace troupe
