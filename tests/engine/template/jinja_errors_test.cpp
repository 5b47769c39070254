// Errors: parse errors name the line; unknown filters and tests fail at parse time as in
// jinja2; render errors name the line of the failing expression; raise_exception's message
// comes through verbatim.
#include <gtest/gtest.h>

#include "tests/engine/template/render_helpers.h"

namespace troupe {
namespace {

using test::render_error;

TEST(JinjaErrors, SyntaxErrorNamesTheLine) {
  EXPECT_EQ(render_error("a\nb\n{% if x %}\nunclosed"),
            "line 4: unexpected end of template, expected 'elif' or 'else' or 'endif' to close the 'if' at line 3");
  EXPECT_EQ(render_error("ok\n{{ 1 + }}"), "line 2: unexpected end of print statement");
  EXPECT_EQ(render_error("{{ 1 2 }}"), "line 1: unexpected '2' in print statement");
  EXPECT_EQ(render_error("\n\n{% frobnicate %}"), "line 3: unknown tag 'frobnicate'");
  EXPECT_EQ(render_error("{{ 'abc }}"), "line 1: unterminated string literal");
  EXPECT_EQ(render_error("x\n{# open"), "line 2: unterminated comment");
  EXPECT_EQ(render_error("{% for x in y %}\n{% endif %}"),
            "line 2: unexpected 'endif', expected 'else' or 'endfor' to close the 'for' at line 1");
  EXPECT_EQ(render_error("{% endfor %}"), "line 1: unexpected 'endfor'");
}

TEST(JinjaErrors, UnknownFilterOrTestFailsAtParseTime) {
  // Parse alone must throw, even for a branch that would never run.
  EXPECT_THROW(ChatTemplate::parse("{% if false %}\n{{ x | nosuchfilter }}{% endif %}"), TemplateError);
  EXPECT_EQ(render_error("{% if false %}\n{{ x | nosuchfilter }}{% endif %}"), "line 2: no filter named 'nosuchfilter'");
  EXPECT_EQ(render_error("{{ x is nosuchtest }}"), "line 1: no test named 'nosuchtest'");
}

TEST(JinjaErrors, RaiseExceptionMessageIsVerbatim) {
  EXPECT_EQ(render_error("\n{{ raise_exception('Conversation roles must alternate') }}"), "Conversation roles must alternate");
}

TEST(JinjaErrors, UsingAnUndefinedValueFails) {
  EXPECT_EQ(render_error("{{ u.x }}"), "line 1: 'u' is undefined");
  EXPECT_EQ(render_error("\n{{ u + 'a' }}"), "line 2: 'u' is undefined");
  EXPECT_EQ(render_error("{{ u | tojson }}"), "line 1: Object of type Undefined is not JSON serializable");
  EXPECT_EQ(render_error("{{ m.missing.x }}", R"({"m": {}})"), "line 1: 'dict object' has no attribute 'missing'");
  EXPECT_EQ(render_error("{{ nofunc(1) }}"), "line 1: 'nofunc' is undefined");
}

TEST(JinjaErrors, TypeErrorsFollowPython) {
  EXPECT_EQ(render_error("{{ 'a' + 1 }}"), "line 1: can only concatenate str (not \"int\") to str");
  EXPECT_EQ(render_error("{% for x in 5 %}{% endfor %}"), "line 1: 'int' object is not iterable");
  EXPECT_EQ(render_error("{{ 1 // 0 }}"), "line 1: integer division or modulo by zero");
  EXPECT_EQ(render_error("{% set x = 1 %}{% set x.a = 2 %}"), "line 1: cannot assign attribute on non-namespace object");
}

TEST(JinjaErrors, TheSandboxRefusesMutation) {
  EXPECT_EQ(render_error("{% set a = [1] %}{{ a.append(2) }}"), "line 1: access to attribute 'append' of 'list' object is unsafe.");
}

TEST(JinjaErrors, ContextMustBeAnObjectAndTheTemplateParsed) {
  EXPECT_THROW(ChatTemplate::parse("x").render(nlohmann::json::array()), TemplateError);
  EXPECT_THROW(ChatTemplate().render(nlohmann::json::object()), TemplateError);
}

}  // namespace
}  // namespace troupe
