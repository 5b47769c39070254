// Statements and their scoping, as jinja2 runs them.
#include <gtest/gtest.h>

#include "tests/engine/template/render_helpers.h"

namespace troupe {
namespace {

using test::render;

TEST(JinjaStatements, ForLoopVariables) {
  EXPECT_EQ(render("{% for i in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
                   "{{ loop.first }}{{ loop.last }}{{ loop.length }},{% endfor %}"),
            "1032TrueFalse3,2121FalseFalse3,3210FalseTrue3,");
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }}{{ loop.cycle('o', 'e') }};{% endfor %}"),
            "-2o;1-3e;2-o;");
}

TEST(JinjaStatements, ForElseFilterAndUnpacking) {
  EXPECT_EQ(render("{% for a in [1, 2, 3] if a > 1 %}{{ loop.index }}/{{ loop.length }} {% else %}E{% endfor %}"), "1/2 2/2 ");
  EXPECT_EQ(render("{% for a in [] %}x{% else %}E{% endfor %}{% for a in u %}x{% else %}U{% endfor %}"), "EU");
  EXPECT_EQ(render("{% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "b=1;a=2;");
  EXPECT_EQ(render("{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %}"), "ba");
  EXPECT_EQ(render("{% for m in messages[::-1] %}{{ m }}{% endfor %}", R"({"messages": [1, 2, 3]})"), "321");
}

TEST(JinjaStatements, BreakAndContinue) {
  EXPECT_EQ(render("{% for i in range(4) %}{% if i == 1 %}{% continue %}{% endif %}{{ i }}{% endfor %}|"
                   "{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
            "023|012");
}

TEST(JinjaStatements, IfElifElse) {
  EXPECT_EQ(render("{% if 1 %}a{% elif 2 %}b{% else %}c{% endif %}{% if 0 %}a{% elif 2 %}b{% else %}c{% endif %}"
                   "{% if 0 %}a{% elif 0 %}b{% else %}c{% endif %}"),
            "abc");
}

TEST(JinjaStatements, SetInsideALoopDoesNotLeakButNamespaceDoes) {
  // Every iteration starts from the outer value: sets are local to one iteration.
  EXPECT_EQ(render("{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}"), "12121");
  EXPECT_EQ(render("{% for i in [1, 2] %}[{{ y }}]{% set y = i %}{% endfor %}[{{ y }}]{{ i }}"), "[][][]");
  EXPECT_EQ(render("{% set ns = namespace(a=1) %}{% for i in range(3) %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}"), "4");
  // `if` opens no scope.
  EXPECT_EQ(render("{% if true %}{% set z = 3 %}{% endif %}{{ z }}"), "3");
}

TEST(JinjaStatements, SetForms) {
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ a }}{{ b }}"), "12");
  EXPECT_EQ(render("{% set s %}inner {{ 1 }}{% endset %}[{{ s }}]"), "[inner 1]");
  EXPECT_EQ(render("{% set s | upper %}abc{% endset %}{{ s }}"), "ABC");
  EXPECT_EQ(render("{% filter upper %}abc{{ 'd' }}{% endfilter %}"), "ABCD");
}

TEST(JinjaStatements, Macros) {
  EXPECT_EQ(render("{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}"
                   "{{ greet('A') }} {{ greet('B', punct='?') }} {{ greet(name='C') }}"),
            "Hello A! Hello B? Hello C!");
  // A macro sees top-level names and can call itself.
  EXPECT_EQ(render("{% set sep = ',' %}{% macro count(n) %}{{ n }}{% if n > 0 %}{{ sep }}{{ count(n - 1) }}{% endif %}{% endmacro %}{{ count(2) }}"),
            "2,1,0");
  EXPECT_EQ(render("{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}in{% endcall %}"), "[in]");
  EXPECT_EQ(render("{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}"
                   "{% call(v) each([1, 2]) %}<{{ v }}>{% endcall %}"),
            "<1><2>");
}

TEST(JinjaStatements, CommentsRawAndGeneration) {
  EXPECT_EQ(render("a{# ignored {{ x }} #}b{% raw %}{{ x }}{% endraw %}"), "ab{{ x }}");
  // transformers' {% generation %} marks assistant text; it renders its body in its own scope.
  EXPECT_EQ(render("{% generation %}x{% set y = 1 %}{% endgeneration %}[{{ y }}]"), "x[]");
}

}  // namespace
}  // namespace troupe
