#include "engine/template/chat_template_source.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "engine/load_error.h"
#include "engine/template/utf8.h"

namespace troupe {
namespace {

// Python's unicode_escape for what a template can hold: \n \t \r \\ \' \" (and \uXXXX as UTF-8).
// An unknown escape stays as written, as Python keeps it.
std::string decode_escapes(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    switch (c) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'u':
        if (i + 4 < s.size() && s.find_first_not_of("0123456789abcdefABCDEF", i + 1) >= i + 5) {
          out += jinja::utf8_encode(std::u32string(1, static_cast<char32_t>(std::stoul(s.substr(i + 1, 4), nullptr, 16))));
          i += 4;
          break;
        }
        [[fallthrough]];
      default: out += '\\'; out += c;
    }
  }
  return out;
}

}  // namespace

ChatTemplateSource resolve_chat_template_arg(const std::string& arg) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(arg, ec)) {
    std::ifstream in(arg, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) throw LoadError(arg, "cannot read the chat template");
    return {text.str(), arg};
  }
  if (arg.find_first_of("{}\n") == std::string::npos)
    throw LoadError(arg, "--chat-template: no such file (an argument without '{', '}' or a newline is taken as a path, as vLLM takes it)");
  return {decode_escapes(arg), "--chat-template text"};
}

}  // namespace troupe
