// Whitespace control as transformers configures jinja2: trim_blocks (drop the newline after a
// block tag), lstrip_blocks (drop indentation before a block tag), keep_trailing_newline off,
// plus the explicit "-" and "+" markers.
#include <gtest/gtest.h>

#include "tests/engine/template/render_helpers.h"

namespace troupe {
namespace {

using test::render;

TEST(JinjaWhitespace, TrimBlocksDropsOneNewlineAfterABlockTag) {
  EXPECT_EQ(render("{% if true %}\nx\n{% endif %}\ny"), "x\ny");
  EXPECT_EQ(render("{% if true %}\n\nx{% endif %}"), "\nx");
  // ... but not after a print tag.
  EXPECT_EQ(render("{{ 1 }}\n{{ 2 }}"), "1\n2");
  // ... and after a comment too.
  EXPECT_EQ(render("a {# c #}\nb"), "a b");
}

TEST(JinjaWhitespace, LstripBlocksDropsIndentationBeforeABlockTag) {
  EXPECT_EQ(render("  {% if true %}\n  x\n  {% endif %}\n  y"), "  x\n  y");
  EXPECT_EQ(render("a\n  {# c #}\nb"), "a\nb");
  // Only when the tag starts its line.
  EXPECT_EQ(render("{{ 'a' }}  {% if true %}z{% endif %}"), "a  z");
  EXPECT_EQ(render("{{ 'a' }}\n  {% if true %}z{% endif %}"), "a\nz");
}

TEST(JinjaWhitespace, MinusStripsAllWhitespaceIncludingNewlines) {
  EXPECT_EQ(render("{%- if true -%}\n   x   \n{%- endif -%}\n  y"), "xy");
  EXPECT_EQ(render("a  \n {{- 'b' -}} \n c"), "abc");
  EXPECT_EQ(render("{%- set x = 1 %}\n\n{{- x }}\n\n"), "1\n");
  EXPECT_EQ(render("{# c -#}   \n   x"), "x");
}

TEST(JinjaWhitespace, PlusKeepsWhatTheOptionsWouldStrip) {
  EXPECT_EQ(render("  {%+ if true %}\n  x\n  {% endif +%}\n  y"), "    x\n\n  y");
}

TEST(JinjaWhitespace, OneTrailingNewlineOfTheTemplateIsDropped) {
  EXPECT_EQ(render("x\n"), "x");
  EXPECT_EQ(render("x\n\n"), "x\n");
  EXPECT_EQ(render("a\r\nb\r\n"), "a\nb");
}

}  // namespace
}  // namespace troupe
