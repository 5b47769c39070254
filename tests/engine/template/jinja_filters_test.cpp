// Filters behave as jinja2's, except tojson, which is transformers' json.dumps(ensure_ascii=
// False). Expectations checked against jinja2 3.1 with transformers' tojson.
#include <gtest/gtest.h>

#include "tests/engine/template/render_helpers.h"

namespace troupe {
namespace {

using test::render;

TEST(JinjaFilters, TojsonMatchesPythonJsonDumps) {
  // Python's separators are ", " and ": "; non-ASCII stays as is; key order is kept.
  EXPECT_EQ(render(R"({{ {'b': 1, 'a': [1, 2.5, none, true, 'é😀\n"']} | tojson }})"),
            R"({"b": 1, "a": [1, 2.5, null, true, "é😀\n\""]})");
  EXPECT_EQ(render("{{ {'a': [1, {}], 'b': []} | tojson(indent=2) }}"), "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": []\n}");
  EXPECT_EQ(render("{{ 'é😀' | tojson(ensure_ascii=true) }}"), R"("\u00e9\ud83d\ude00")");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}{{ {'a': 1, 'b': 2} | tojson(separators=(',', ':')) }}"),
            R"({"a": 2, "b": 1}{"a":1,"b":2})");
  EXPECT_EQ(render("{{ 1.0 | tojson }} {{ 1e100 | tojson }} {{ '\\u0001' | tojson }}"), R"(1.0 1e+100 "\u0001")");
}

TEST(JinjaFilters, TojsonKeepsTheCallersKeyOrder) {
  const char* ctx = R"({"tool": {"name": "f", "parameters": {"zeta": 1, "alpha": 2}}})";
  EXPECT_EQ(render("{{ tool | tojson }}", ctx), R"({"name": "f", "parameters": {"zeta": 1, "alpha": 2}})");
}

TEST(JinjaFilters, Strings) {
  EXPECT_EQ(render("{{ '  hi \\n' | trim }}|{{ 'xhix' | trim('x') }}|{{ 'x' | upper }}{{ 'X' | lower }}{{ 'aBC' | capitalize }}"),
            "hi|hi|XxAbc");
  // jinja2's title capitalizes after spaces, '-' and brackets only, unlike Python's str.title.
  EXPECT_EQ(render("{{ 'hello-world foo_bar (x' | title }}"), "Hello-World Foo_bar (X");
  EXPECT_EQ(render("{{ 'abc' | replace('b', 'X') }}{{ 3 | string }}{{ 'abc' | reverse }}{{ '<a&>' | e }}{{ '<a>' | safe }}"),
            "aXc3cba&lt;a&amp;&gt;<a>");
  EXPECT_EQ(render("{{ 'x\\ny\\n\\nz' | indent(2) }}|{{ 'x\\ny' | indent(2, true) }}|{{ 'x\\n\\ny' | indent(2, blank=true) }}"),
            "x\n  y\n\n  z|  x\n  y|x\n  \n  y");
}

TEST(JinjaFilters, Sequences) {
  EXPECT_EQ(render("{{ [1, 2, 3] | first }}{{ [1, 2, 3] | last }}{{ 'abc' | first }}[{{ [] | first }}]{{ [1, 2] | length }}{{ 'é' | count }}"),
            "13a[]21");
  EXPECT_EQ(render("{{ [1, 2] | join }}|{{ [1, 2] | join(', ') }}|{{ [{'a': 'x'}, {'a': 'y'}] | join('-', attribute='a') }}"),
            "12|1, 2|x-y");
  EXPECT_EQ(render("{{ 'abc' | list }}{{ {'a': 1} | list }}{{ [3, 1, 2] | reverse | list }}{{ ['A', 'a', 'b'] | unique | list }}"),
            "['a', 'b', 'c']['a'][2, 1, 3]['A', 'b']");
  EXPECT_EQ(render("{{ [3, 1, 2] | sort }}{{ [3, 1, 2] | sort(reverse=true) }}{{ [1, 2, 3] | sum }}{{ [1, 5, 3] | max }}{{ [4, 2, 3] | min }}"),
            "[1, 2, 3][3, 2, 1]652");
}

TEST(JinjaFilters, SelectAndMap) {
  const char* ctx = R"({"ms": [{"role": "system", "n": 1}, {"role": "user", "n": 2}, {"role": "user"}]})";
  EXPECT_EQ(render("{{ ms | selectattr('role', 'equalto', 'user') | list | length }}", ctx), "2");
  EXPECT_EQ(render("{{ ms | rejectattr('role', 'eq', 'user') | map(attribute='role') | list }}", ctx), "['system']");
  EXPECT_EQ(render("{{ ms | selectattr('n') | map(attribute='n') | list }}{{ ms | map(attribute='n', default=0) | list }}", ctx),
            "[1, 2][1, 2, 0]");
  EXPECT_EQ(render("{{ [1, 2, 3, 4] | select('odd') | list }}{{ [1, 2, 3, 4] | reject('even') | list }}{{ ['a', 'b'] | map('upper') | join }}"),
            "[1, 3][1, 3]AB");
}

TEST(JinjaFilters, ConversionsAndDefaults) {
  EXPECT_EQ(render("{{ '42' | int }}{{ '4.7' | int }}{{ 4.7 | int }}{{ 'x' | int }}{{ 'x' | int(7) }}{{ '3.5' | float }}{{ 3 | float }}"),
            "424407" "3.53.0");
  EXPECT_EQ(render("{{ x | default('d') }}|{{ none | default('d') }}|{{ '' | default('d', true) }}|{{ x | d('e') }}"), "d|None|d|e");
  EXPECT_EQ(render("{{ {'a': 1, 'b': 2} | items | list | length }}{% for k, v in {'a': 1} | items %}{{ k }}{{ v }}{% endfor %}"), "2a1");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2} | dictsort | first | first }}"), "a");
}

}  // namespace
}  // namespace troupe
