#include "engine/template/lexer.h"

#include <cctype>
#include <cstdlib>

#include "engine/template/template_error.h"
#include "engine/template/utf8.h"
#include "engine/text/utf8.h"

namespace troupe::jinja {
namespace {

[[noreturn]] void fail(int line, const std::string& what) {
  throw TemplateError("line " + std::to_string(line) + ": " + what);
}

// jinja2 normalizes every newline to "\n" before lexing, and with keep_trailing_newline off it
// drops one final newline of the source.
std::string normalize_source(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Python string-literal escapes, as jinja2 decodes them ("unicode-escape"); an unknown escape
// keeps its backslash.
std::string unescape(std::string_view body, int line) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\' || i + 1 == body.size()) {
      out.push_back(c);
      continue;
    }
    char e = body[++i];
    auto hex = [&](size_t digits) {
      std::string h(body.substr(i + 1, digits));
      if (h.size() != digits || h.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
        fail(line, "invalid escape in string literal");
      i += digits;
      utf8::append(out, static_cast<char32_t>(std::strtoul(h.c_str(), nullptr, 16)));
    };
    switch (e) {
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case 'r': out.push_back('\r'); break;
      case '\\': out.push_back('\\'); break;
      case '\'': out.push_back('\''); break;
      case '"': out.push_back('"'); break;
      case 'a': out.push_back('\a'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'v': out.push_back('\v'); break;
      case '\n': break;  // backslash-newline continues the literal
      case 'x': hex(2); break;
      case 'u': hex(4); break;
      case 'U': hex(8); break;
      default:
        if (e >= '0' && e <= '7') {
          unsigned v = 0;
          size_t n = 0;
          while (n < 3 && i < body.size() && body[i] >= '0' && body[i] <= '7') {
            v = v * 8 + static_cast<unsigned>(body[i] - '0');
            ++i;
            ++n;
          }
          --i;
          utf8::append(out, v);
        } else {
          out.push_back('\\');
          out.push_back(e);
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(normalize_source(source)) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      size_t start = find_tag_start(pos_);
      std::string_view text = std::string_view(src_).substr(pos_, start - pos_);
      if (start == src_.size()) {
        emit_text(text);
        advance_to(start);
        break;
      }
      char kind = src_[start + 1];
      char modifier = start + 2 < src_.size() ? src_[start + 2] : '\0';
      emit_text(strip_before_tag(text, modifier, kind != '{'));
      advance_to(start + 2 + (modifier == '-' || modifier == '+' ? 1 : 0));
      if (kind == '#') {
        lex_comment();
      } else if (kind == '%' && at_raw()) {
        lex_raw();
      } else {
        lex_tag(kind == '{' ? TokenKind::var_begin : TokenKind::block_begin);
      }
    }
    tokens_.push_back(Token{TokenKind::eof, "", line_});
    return std::move(tokens_);
  }

 private:
  // The text before a tag: "-" strips all its trailing whitespace; otherwise lstrip_blocks
  // drops the whitespace between the line start and a block or comment tag (not a print tag)
  // unless "+" says to keep it. jinja2 counts as whitespace what Python's `\s` matches.
  std::string_view strip_before_tag(std::string_view text, char modifier, bool lstrip_applies) const {
    if (modifier == '-') return py_rstrip_space(text);
    if (!lstrip_applies || modifier == '+') return text;
    size_t line_start = text.rfind('\n');
    line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
    if ((line_start > 0 || line_starting_) && py_lstrip_space(text.substr(line_start)).empty())
      return text.substr(0, line_start);
    return text;
  }

  size_t find_tag_start(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#'))
        return i;
    }
    return src_.size();
  }

  void advance_to(size_t p) {
    for (size_t i = pos_; i < p; ++i) line_ += src_[i] == '\n';
    pos_ = p;
  }

  void emit_text(std::string_view text) {
    if (!text.empty()) tokens_.push_back(Token{TokenKind::text, std::string(text), line_});
  }

  // After a closing delimiter: "-" eats all following whitespace, trim_blocks eats one newline
  // after a block or comment unless "+" asked to keep it. Whether that leaves us at the start
  // of a line decides if lstrip_blocks may strip the next tag's indentation.
  void after_tag_end(size_t end_pos, bool strip, bool trim_newline) {
    advance_to(end_pos);
    size_t p = pos_;
    if (strip) {
      p = src_.size() - py_lstrip_space(std::string_view(src_).substr(pos_)).size();
    } else if (trim_newline && p < src_.size() && src_[p] == '\n') {
      ++p;
    }
    line_starting_ = p > pos_ && src_[p - 1] == '\n';
    advance_to(p);
  }

  void lex_comment() {
    size_t end = src_.find("#}", pos_);
    if (end == std::string::npos) fail(line_, "unterminated comment");
    bool strip = end > pos_ && src_[end - 1] == '-';
    bool keep = end > pos_ && src_[end - 1] == '+';
    after_tag_end(end + 2, strip, !keep);
  }

  bool at_raw() const {
    size_t p = pos_;
    while (p < src_.size() && std::isspace(static_cast<unsigned char>(src_[p]))) ++p;
    if (src_.compare(p, 3, "raw") != 0) return false;
    p += 3;
    while (p < src_.size() && std::isspace(static_cast<unsigned char>(src_[p]))) ++p;
    return src_.compare(p, 2, "%}") == 0 || src_.compare(p, 3, "-%}") == 0;
  }

  // {% raw %}...{% endraw %}: jinja2 keeps no newline trim after `raw %}`, and treats the
  // endraw tag's left side like any block tag's.
  void lex_raw() {
    size_t close = src_.find("%}", pos_);
    after_tag_end(close + 2, src_[close - 1] == '-', false);
    for (size_t p = src_.find("{%", pos_); p != std::string::npos; p = src_.find("{%", p + 2)) {
      size_t q = p + 2;
      char modifier = q < src_.size() && (src_[q] == '-' || src_[q] == '+') ? src_[q++] : '\0';
      while (q < src_.size() && std::isspace(static_cast<unsigned char>(src_[q]))) ++q;
      if (src_.compare(q, 6, "endraw") != 0) continue;
      q += 6;
      while (q < src_.size() && std::isspace(static_cast<unsigned char>(src_[q]))) ++q;
      char end_modifier = q < src_.size() && (src_[q] == '-' || src_[q] == '+') ? src_[q++] : '\0';
      if (src_.compare(q, 2, "%}") != 0) continue;
      emit_text(strip_before_tag(std::string_view(src_).substr(pos_, p - pos_), modifier, true));
      after_tag_end(q + 2, end_modifier == '-', end_modifier != '+');
      return;
    }
    fail(line_, "missing endraw");
  }

  void lex_tag(TokenKind begin) {
    const bool is_var = begin == TokenKind::var_begin;
    const char close = is_var ? '}' : '%';
    tokens_.push_back(Token{begin, "", line_});
    const size_t first = tokens_.size();
    int depth = 0;  // brackets open: "}}" inside {{ {'a': {'b': 1}} }} does not close the tag
    while (true) {
      while (pos_ < src_.size() && std::isspace(static_cast<unsigned char>(src_[pos_]))) advance_to(pos_ + 1);
      if (pos_ >= src_.size()) fail(line_, is_var ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'");
      if (depth == 0) {
        char m = src_[pos_];
        size_t p = (m == '-' || m == '+') ? pos_ + 1 : pos_;
        if (p + 1 < src_.size() && src_[p] == close && src_[p + 1] == '}') {
          tokens_.push_back(Token{is_var ? TokenKind::var_end : TokenKind::block_end, "", line_});
          after_tag_end(p + 2, m == '-', !is_var && m != '+');
          return;
        }
      }
      lex_expression_token(depth);
      if (tokens_.size() - first > kMaxTagTokens)
        fail(line_, "a tag holds more than " + std::to_string(kMaxTagTokens) + " tokens");
    }
  }

  void lex_expression_token(int& depth) {
    const char c = src_[pos_];
    const int line = line_;
    if (c == '"' || c == '\'') {
      size_t p = pos_ + 1;
      while (p < src_.size() && src_[p] != c) p += src_[p] == '\\' ? 2 : 1;
      if (p >= src_.size()) fail(line, "unterminated string literal");
      std::string value = unescape(std::string_view(src_).substr(pos_ + 1, p - pos_ - 1), line);
      tokens_.push_back(Token{TokenKind::string, std::move(value), line});
      advance_to(p + 1);
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      lex_number();
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t p = pos_;
      while (p < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[p])) || src_[p] == '_')) ++p;
      tokens_.push_back(Token{TokenKind::name, src_.substr(pos_, p - pos_), line});
      advance_to(p);
    } else {
      static const char* const kTwoChar[] = {"//", "**", "==", "!=", "<=", ">="};
      for (const char* op : kTwoChar) {
        if (src_.compare(pos_, 2, op) == 0) {
          tokens_.push_back(Token{TokenKind::op, op, line});
          advance_to(pos_ + 2);
          return;
        }
      }
      if (std::string_view("+-*/%~<>=.,:|()[]{}").find(c) == std::string_view::npos)
        fail(line, std::string("unexpected char '") + c + "'");
      if (c == '(' || c == '[' || c == '{') ++depth;
      if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
      tokens_.push_back(Token{TokenKind::op, std::string(1, c), line});
      advance_to(pos_ + 1);
    }
  }

  // jinja2 numbers: digits with "_" separators, an optional fraction and exponent.
  void lex_number() {
    auto digits_end = [&](size_t p) {
      while (p < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[p])) ||
                                 (src_[p] == '_' && p + 1 < src_.size() && std::isdigit(static_cast<unsigned char>(src_[p + 1])))))
        ++p;
      return p;
    };
    size_t p = digits_end(pos_);
    bool is_float = false;
    if (p + 1 < src_.size() && src_[p] == '.' && std::isdigit(static_cast<unsigned char>(src_[p + 1]))) {
      p = digits_end(p + 1);
      is_float = true;
    }
    if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
      size_t q = p + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && std::isdigit(static_cast<unsigned char>(src_[q]))) {
        p = digits_end(q);
        is_float = true;
      }
    }
    std::string literal;
    for (size_t i = pos_; i < p; ++i)
      if (src_[i] != '_') literal.push_back(src_[i]);
    Token t{is_float ? TokenKind::floating : TokenKind::integer, literal, line_};
    if (is_float) {
      t.float_value = std::strtod(literal.c_str(), nullptr);
    } else {
      errno = 0;
      t.int_value = std::strtoll(literal.c_str(), nullptr, 10);
      if (errno == ERANGE) fail(line_, "integer literal too large");
    }
    tokens_.push_back(std::move(t));
    advance_to(p);
  }

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace troupe::jinja
