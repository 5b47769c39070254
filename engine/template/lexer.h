#pragma once
// Lexer: template source -> tokens, with jinja2's whitespace rules as transformers configures
// them (trim_blocks, lstrip_blocks, keep_trailing_newline off) applied here, so that the parser
// and renderer never think about whitespace. Text tokens are final output bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::jinja {

enum class TokenKind {
  text,         // literal output
  var_begin,    // {{
  var_end,      // }}
  block_begin,  // {%
  block_end,    // %}
  name,
  string,       // value already unescaped
  integer,
  floating,
  op,           // operators and punctuation: + - * / // % ** ~ == != < <= > >= = . , : | ( ) [ ] { }
  eof,
};

struct Token {
  TokenKind kind;
  std::string text;
  int line = 1;
  int64_t int_value = 0;
  double float_value = 0.0;
};

// A tag ({{ ... }} or {% ... %}) holds at most this many tokens. Chains such as a + b + c build a
// tree as deep as they are long, which rendering and freeing walk recursively; real templates'
// longest tags hold a few dozen tokens.
inline constexpr size_t kMaxTagTokens = 4096;

// Throws TemplateError("line N: ...") for unterminated tags, strings or comments, and tags of
// more than kMaxTagTokens tokens.
std::vector<Token> tokenize(std::string_view source);

}  // namespace troupe::jinja
