#pragma once
// vLLM's --chat-template argument: a path to a Jinja file, or the template text itself. It is
// resolved as vLLM's load_chat_template resolves it, so the same launch line means the same
// template: a file that opens is read; otherwise an argument holding any of '{', '}' or a newline
// is the template text, its backslash escapes decoded as Python's unicode_escape decodes them
// (a shell line can only write a newline as \n); anything else was meant as a path, and is an
// error naming it rather than a one-line template that prints the path.
#include <string>

namespace troupe {

struct ChatTemplateSource {
  std::string text;
  std::string origin;  // the file, or "--chat-template text", for logs and errors
};

// Throws LoadError naming the path when the argument looks like one and does not open.
ChatTemplateSource resolve_chat_template_arg(const std::string& arg);

}  // namespace troupe
