// Expressions evaluate as in jinja2, i.e. with Python semantics. Every expectation here was
// checked against jinja2 3.1 configured as transformers configures it.
#include <gtest/gtest.h>

#include "tests/engine/template/render_helpers.h"

namespace troupe {
namespace {

using test::render;

TEST(JinjaExpressions, LiteralsPrintAsPythonStr) {
  EXPECT_EQ(render("{{ none }}|{{ None }}|{{ true }}|{{ False }}|{{ 42 }}|{{ 1_000 }}"), "None|None|True|False|42|1000");
  EXPECT_EQ(render("{{ 'a\\'b' }}|{{ \"x\\ty\" }}|{{ '\\u00e9\\x41' }}|{{ 'a' 'b' }}"), "a'b|x\ty|éA|ab");
  EXPECT_EQ(render("{{ [1, 'a', none, true, {'k': \"it's\"}] }}"), "[1, 'a', None, True, {'k': \"it's\"}]");
}

TEST(JinjaExpressions, FloatsPrintAsPythonRepr) {
  EXPECT_EQ(render("{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e16 }} {{ 1e15 }} {{ 1e-5 }} {{ 0.000123 }} {{ 1/3 }}"),
            "1.0 0.30000000000000004 1e+20 1e+16 1000000000000000.0 1e-05 0.000123 0.3333333333333333");
  EXPECT_EQ(render("{{ -0.0 }} {{ 1.5e300 }} {{ 100.0 }}"), "-0.0 1.5e+300 100.0");
}

TEST(JinjaExpressions, ArithmeticFollowsPython) {
  EXPECT_EQ(render("{{ 7 / 2 }} {{ 6 / 2 }} {{ 7 // 2 }} {{ 7 // -2 }} {{ -7 % 3 }} {{ 7 % -3 }}"), "3.5 3.0 3 -4 2 -2");
  EXPECT_EQ(render("{{ -7.5 // 2 }} {{ -7.5 % 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }}"), "-4.0 0.5 1024 0.5");
  EXPECT_EQ(render("{{ 10 - 3 - 2 }} {{ 2 + 3 * 4 }} {{ (2 + 3) * 4 }} {{ 1 + 1.5 }} {{ true + 1 }}"), "5 14 20 2.5 2");
  EXPECT_EQ(render("{{ 'ab' * 2 }}{{ [1] + [2] }}{{ [0] * 2 }}"), "abab[1, 2][0, 0]");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none ~ [1] }}"), "a1None[1]");
  EXPECT_EQ(render("{{ '%s-%d' % ('a', 3) }}"), "a-3");
}

TEST(JinjaExpressions, FiltersBindTighterThanArithmetic) {
  EXPECT_EQ(render("{{ messages|length - 1 }}", R"({"messages": [1, 2, 3]})"), "2");
  EXPECT_EQ(render("{{ 'a' + ' b '|trim + 'c' }}"), "abc");
  EXPECT_EQ(render("{{ -3|abs }}"), "3");
}

TEST(JinjaExpressions, ComparisonsAndLogic) {
  EXPECT_EQ(render("{{ 1 == 1.0 }}{{ true == 1 }}{{ 'a' < 'b' }}{{ [1, 2] < [1, 3] }}{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}"),
            "TrueTrueTrueTrueTrueFalse");
  EXPECT_EQ(render("{{ 'a' in 'cat' }}{{ 1 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 3 not in [1] }}{{ 'x' in u }}"),
            "TrueTrueTrueTrueFalse");
  // `and` / `or` return an operand, not a bool, as in Python.
  EXPECT_EQ(render("{{ not true }}{{ not none }}{{ true and 'x' }}{{ false or 'y' }}{{ 0 or [] }}{{ none and 1 }}"),
            "FalseTruexy[]None");
  EXPECT_EQ(render("{{ 'a' if true else 'b' }}{{ 'a' if false else 'b' if false else 'c' }}[{{ 'a' if false }}]"), "ac[]");
}

TEST(JinjaExpressions, AttributesItemsAndSlices) {
  const char* ctx = R"({"m": {"role": "user", "content": "héllo", "n": [1, 2, 3, 4, 5]}})";
  EXPECT_EQ(render("{{ m.role }}{{ m['role'] }}{{ m.n[0] }}{{ m.n[-1] }}{{ m.n.1 }}", ctx), "useruser152");
  EXPECT_EQ(render("{{ m.n[::-1] }}{{ m.n[::-2] }}{{ m.n[-2:] }}{{ m.n[:-2] }}{{ m.n[1::2] }}{{ m.n[-1:0:-1] }}{{ m.n[9:] }}", ctx),
            "[5, 4, 3, 2, 1][5, 3, 1][4, 5][1, 2, 3][2, 4][5, 4, 3, 2][]");
  // Strings index by code point, not byte.
  EXPECT_EQ(render("{{ m.content[1] }}{{ m.content[::-1] }}{{ m.content[1:3] }}{{ m.content|length }}", ctx), "éolléhél5");
  // A missing key or index is undefined (prints empty), not an error.
  EXPECT_EQ(render("[{{ m.missing }}{{ m.n[7] }}{{ none.x }}]", ctx), "[]");
}

TEST(JinjaExpressions, DictAttributeLookupPrefersMethods) {
  EXPECT_EQ(render("{{ {'items': 1}['items'] }}{% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "1b=1;a=2;");
  EXPECT_EQ(render("{{ {'a': 1}.get('a') }}{{ {'a': 1}.get('b') }}{{ {'a': 1}.get('b', 5) }}{{ {'a': 1}.keys()|list }}"), "1None5['a']");
}

TEST(JinjaExpressions, StringMethods) {
  EXPECT_EQ(render("{{ '  hi  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '\\nhi\\n'.lstrip('\\n') }}|{{ 'hi\\n\\n'.rstrip('\\n') }}|"),
            "hi|hi|hi\n|hi|");
  EXPECT_EQ(render("{{ ' a b  c '.split() }}{{ 'a,b,,c'.split(',') }}{{ 'a,b,c'.split(',', 1) }}{{ 'a b c'.rsplit(None, 1) }}"),
            "['a', 'b', 'c']['a', 'b', '', 'c']['a', 'b,c']['a b', 'c']");
  EXPECT_EQ(render("{{ 'Hello'.startswith('He') }}{{ 'Hello'.endswith(('x', 'lo')) }}{{ 'Hello'.upper() }}{{ 'hello world'.title() }}"),
            "TrueTrueHELLOHello World");
  EXPECT_EQ(render("{{ 'aaa'.replace('a', 'b', 2) }}{{ 'abc'.replace('', '-') }}{{ 'a-b'.find('-') }}{{ 'abcabc'.count('b') }}{{ '-'.join(['a', 'b']) }}"),
            "bba-a-b-c-12a-b");
  // Python's strip() removes Unicode whitespace such as U+3000 and U+00A0.
  EXPECT_EQ(render("[{{ '\\u3000x\\u00a0'.strip() }}]"), "[x]");
}

TEST(JinjaExpressions, QwenThinkSplitting) {
  const char* ctx = R"({"c": "<think>\nadd\n</think>\n\n4"})";
  EXPECT_EQ(render("{{ c.split('</think>')[-1].lstrip('\\n') }}|{{ c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}", ctx),
            "4|add");
}

TEST(JinjaExpressions, Tests) {
  EXPECT_EQ(render("{{ x is defined }}{{ x is undefined }}{{ none is none }}{{ 1 is not none }}{{ 'a' is string }}{{ 1 is string }}"),
            "FalseTrueTrueTrueTrueFalse");
  EXPECT_EQ(render("{{ 1 is number }}{{ true is number }}{{ 1 is integer }}{{ 1.0 is float }}{{ {} is mapping }}{{ [] is sequence }}{{ 'a' is iterable }}"),
            "TrueTrueTrueTrueTrueTrueTrue");
  EXPECT_EQ(render("{{ true is true }}{{ 1 is true }}{{ false is false }}{{ 3 is odd }}{{ 4 is even }}{{ 6 is divisibleby 3 }}{{ 2 is in [1, 2] }}"),
            "TrueFalseTrueTrueTrueTrueTrue");
  EXPECT_EQ(render("{{ 'ab' is lower }}{{ 'Ab' is lower }}{{ 'AB' is upper }}{{ 1 is eq 1 }}{{ 2 is gt 1 }}"), "TrueFalseTrueTrueTrue");
}

TEST(JinjaExpressions, Globals) {
  EXPECT_EQ(render("{{ range(3)|list }}{{ range(1, 7, 2)|list }}{{ range(5, 0, -2)|list }}"), "[0, 1, 2][1, 3, 5][5, 3, 1]");
  EXPECT_EQ(render("{% set ns = namespace(a=1, b='x') %}{{ ns.a }}{{ ns.b }}{{ dict(k=1) }}"), "1x{'k': 1}");
  EXPECT_EQ(render("{{ strftime_now('%Y')|length }}"), "4");
}

}  // namespace
}  // namespace troupe
