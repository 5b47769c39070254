// What a client's messages and tools may cost the chat template: a bounded depth (every walk of a
// template value recurses once per level), and time linear in the size of an object. And what a
// client's own template may cost (a request's chat_template behind --trust-request-chat-template):
// its nesting, tags and macro calls are bounded too, so it fails the request, not the process.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/template/chat_template.h"
#include "engine/template/value.h"

namespace troupe {
namespace {

using nlohmann::ordered_json;

// `levels` nested arrays around a 1, built by the parser (iterative), not by recursion here.
ordered_json nested(int levels) {
  return ordered_json::parse(std::string(static_cast<size_t>(levels), '[') + "1" + std::string(static_cast<size_t>(levels), ']'));
}

const ChatTemplate& echo() {
  static const ChatTemplate t =
      ChatTemplate::parse("{% for m in messages %}{{ m.content }}{% endfor %}{% if tools %}{{ tools | length }}{% else %}0{% endif %}");
  return t;
}

TEST(ChatTemplateLimits, ValuesNestUpTo64LevelsCountingTheContext) {
  // context (1) > messages (2) > message (3) > "x": 61 levels = 64.
  ordered_json messages = ordered_json::array({{{"role", "user"}, {"content", "hi"}, {"x", nested(61)}}});
  EXPECT_EQ(apply_chat_template(echo(), {}, messages, false), "hi0");
  messages[0]["x"] = nested(62);
  EXPECT_THROW(apply_chat_template(echo(), {}, messages, false), TemplateError);
  // tools count the same way: context (1) > tools (2) > a tool of 62 levels = 64.
  const ordered_json plain = ordered_json::array({{{"role", "user"}, {"content", "hi"}}});
  EXPECT_EQ(apply_chat_template(echo(), {}, plain, false, ordered_json::array({nested(62)})), "hi1");
  EXPECT_THROW(apply_chat_template(echo(), {}, plain, false, ordered_json::array({nested(63)})), TemplateError);
  // render() of a whole context: the context is level 1 (> messages > message > 61 levels).
  EXPECT_NO_THROW(echo().render(ordered_json{{"messages", ordered_json::array({{{"content", nested(61)}}})}}));
  EXPECT_THROW(echo().render(ordered_json{{"messages", ordered_json::array({{{"content", nested(62)}}})}}), TemplateError);
}

// Before the limit, a message nested this deep overflowed the stack (copying it into the
// context, then converting it): now an error naming the limit, and no crash.
TEST(ChatTemplateLimits, ADeepMessageIsATemplateErrorNotACrash) {
  for (const char* shape : {"[", "{\"a\":"}) {
    std::string deep;
    for (int i = 0; i < 100000; ++i) deep += shape;
    deep += "1";
    deep += std::string(100000, shape[0] == '[' ? ']' : '}');
    const ordered_json messages =
        ordered_json::parse(R"([{"role": "user", "content": "hi", "x": )" + deep + "}]");
    try {
      apply_chat_template(echo(), {}, messages, false);
      ADD_FAILURE() << "rendered a message nested 100,000 levels deep";
    } catch (const TemplateError& e) {
      EXPECT_NE(std::string(e.what()).find("nests deeper than"), std::string::npos) << e.what();
    }
    EXPECT_THROW(apply_chat_template(echo(), {}, ordered_json::array({{{"role", "user"}, {"content", "hi"}}}), false,
                                     ordered_json::parse("[" + deep + "]")),
                 TemplateError);
  }
}

// A JSON object's keys are unique, so converting one appends without searching: 200,000 keys
// take milliseconds (searching on each insert, as Dict::set does, took over a minute: a denial
// of service from one message). (nlohmann::json here: building an ordered_json this wide is
// itself quadratic.)
TEST(ChatTemplateLimits, ConvertingAWideObjectIsLinear) {
  nlohmann::json wide = nlohmann::json::object();
  for (int i = 0; i < 200000; ++i) {
    std::string key = "k";  // not "k" + ...: GCC 12 warns (a bogus -Wrestrict)
    wide[key += std::to_string(i)] = i;
  }
  const nlohmann::json messages = nlohmann::json::array({{{"role", "user"}, {"content", "hi"}, {"x", wide}}});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(apply_chat_template(echo(), {}, messages, false), "hi0");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 3.0);
  const jinja::Value v = jinja::from_json(wide);
  ASSERT_EQ(v.dict().size(), 200000u);
  EXPECT_EQ(v.dict().begin()->first, "k0");
  EXPECT_EQ(v.dict().find("k199999")->integer(), 199999);
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// Before the bounds, each of these overflowed the stack (parsing, rendering or freeing the tree).
TEST(ChatTemplateLimits, ATemplatesOwnNestingIsBounded) {
  const ordered_json empty = ordered_json::object();
  EXPECT_EQ(ChatTemplate::parse("{{ " + repeat("(", 50) + "1" + repeat(")", 50) + " }}").render(empty), "1");
  EXPECT_THROW(ChatTemplate::parse("{{ " + repeat("(", 100000) + "1" + repeat(")", 100000) + " }}"), TemplateError);
  EXPECT_THROW(ChatTemplate::parse("{{ " + repeat("[", 100000) + repeat("]", 100000) + " }}"), TemplateError);
  EXPECT_THROW(ChatTemplate::parse("{{ " + repeat("- ", 100000) + "1 }}"), TemplateError);
  EXPECT_THROW(ChatTemplate::parse("{{ " + repeat("not ", 100000) + "1 }}"), TemplateError);
  EXPECT_THROW(ChatTemplate::parse("{{ 1" + repeat(" + 1", 100000) + " }}"), TemplateError);  // tokens in a tag
  EXPECT_EQ(ChatTemplate::parse(repeat("{% if true %}", 50) + "x" + repeat("{% endif %}", 50)).render(empty), "x");
  EXPECT_THROW(ChatTemplate::parse(repeat("{% if true %}", 100000) + repeat("{% endif %}", 100000)), TemplateError);
  // A macro without a base case fails the render; one that recurses 10 deep works.
  const ChatTemplate forever = ChatTemplate::parse("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}");
  EXPECT_THROW(forever.render(empty), TemplateError);
  const ChatTemplate countdown =
      ChatTemplate::parse("{% macro f(n) %}{{ n }}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(10) }}");
  EXPECT_EQ(countdown.render(empty), "109876543210");
}

}  // namespace
}  // namespace troupe
