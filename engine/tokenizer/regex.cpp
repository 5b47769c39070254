#include "engine/tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>  // pcre2_compile, pcre2_jit_compile, pcre2_match

#include <memory>
#include <stdexcept>

#include "engine/text/utf8.h"

namespace troupe {

namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  const int n = pcre2_get_error_message(code, buffer, sizeof(buffer));
  return n < 0 ? "PCRE2 error " + std::to_string(code) : std::string(reinterpret_cast<char*>(buffer), n);
}

struct MatchDataDeleter {
  void operator()(pcre2_match_data* md) const { pcre2_match_data_free(md); }
};

constexpr std::string_view kSpaceMembers = "\\t\\n\\x0B\\f\\r\\x{85}\\p{Z}";

}  // namespace

std::string oniguruma_whitespace(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 64);
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char d = pattern[++i];
      if (d == 's') {
        out += in_class ? std::string(kSpaceMembers) : "[" + std::string(kSpaceMembers) + "]";
      } else if (d == 'S' && !in_class) {
        out += "[^" + std::string(kSpaceMembers) + "]";
      } else {
        out += c;
        out += d;
      }
      continue;
    }
    out += c;
    if (!in_class && c == '[') {
      in_class = true;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
    } else if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {
      const size_t close = pattern.find(":]", i + 2);
      if (close != std::string_view::npos) {
        out.append(pattern.substr(i + 1, close + 2 - (i + 1)));
        i = close + 1;
      }
    } else if (in_class && c == ']') {
      in_class = false;
    }
  }
  return out;
}

Regex::Regex(std::string_view pattern) {
  const std::string rewritten = oniguruma_whitespace(pattern);
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                        PCRE2_UTF | PCRE2_UCP, &error, &error_offset, nullptr);
  if (code_ == nullptr) {
    throw std::invalid_argument("bad regex /" + std::string(pattern) + "/: " + pcre2_message(error) +
                                " (at offset " + std::to_string(error_offset) + " of the rewritten pattern)");
  }
  // JIT is an optimisation only: without it (no JIT support on this CPU) matching still works.
  pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
}

Regex::~Regex() {
  if (code_ != nullptr) pcre2_code_free(code_);
}

Regex::Regex(Regex&& other) noexcept : code_(other.code_) { other.code_ = nullptr; }

Regex& Regex::operator=(Regex&& other) noexcept {
  if (this != &other) {
    if (code_ != nullptr) pcre2_code_free(code_);
    code_ = other.code_;
    other.code_ = nullptr;
  }
  return *this;
}

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> md(pcre2_match_data_create_from_pattern(code_, nullptr));
  if (!md) throw std::runtime_error("tokenizer regex: out of memory");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  // The caller guarantees valid UTF-8; without NO_UTF_CHECK PCRE2 would rescan the whole subject on
  // every call, which makes a long text quadratic.
  uint32_t options = PCRE2_NO_UTF_CHECK;
  size_t start = 0;
  while (start <= text.size()) {
    int rc = pcre2_match(code_, subject, text.size(), start, options, md.get(), nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      // The JIT's 32 KiB machine stack ran out; the interpreter keeps its frames on the heap.
      options |= PCRE2_NO_JIT;
      rc = pcre2_match(code_, subject, text.size(), start, options, md.get(), nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw std::runtime_error("tokenizer regex: " + pcre2_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(md.get());
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    out.emplace_back(begin, end);
    if (end > begin) {
      start = end;
    } else {
      if (end >= text.size()) break;
      start = end + utf8::next(text, end).length;
    }
  }
}

}  // namespace troupe
