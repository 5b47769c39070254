// The UTF-8 repair rules (Rust's from_utf8_lossy, which HF decode uses), the GPT-2 byte table and the
// Oniguruma-compatible \s rewrite that the rest of the tokenizer builds on.
#include <gtest/gtest.h>

#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/regex.h"
#include "engine/text/utf8.h"

namespace troupe {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(Utf8Repair, OneReplacementPerMaximalInvalidSubpart) {
  EXPECT_EQ(utf8::to_valid("abc"), "abc");
  EXPECT_EQ(utf8::to_valid("\x80"), kFffd);
  EXPECT_EQ(utf8::to_valid("\xE2\x82" "a"), kFffd + "a");                  // truncated 3-byte sequence
  EXPECT_EQ(utf8::to_valid("\xF0\x80\x80"), kFffd + kFffd + kFffd);         // overlong: F0 needs 90..BF next
  EXPECT_EQ(utf8::to_valid("\xED\xA0\x80"), kFffd + kFffd + kFffd);         // surrogate
  EXPECT_EQ(utf8::to_valid("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // above U+10FFFF
  EXPECT_EQ(utf8::to_valid("\xC0\xAF"), kFffd + kFffd);
  EXPECT_EQ(utf8::to_valid("a\xF0\x9F\x98"), "a" + kFffd);                  // cut-off emoji at the end
  EXPECT_EQ(utf8::to_valid("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
}

TEST(Utf8Repair, IncompleteTailOnlyCountsSequencesThatCouldStillComplete) {
  EXPECT_EQ(utf8::incomplete_tail(""), 0u);
  EXPECT_EQ(utf8::incomplete_tail("a"), 0u);
  EXPECT_EQ(utf8::incomplete_tail("a\xE2"), 1u);
  EXPECT_EQ(utf8::incomplete_tail("a\xE2\x82"), 2u);
  EXPECT_EQ(utf8::incomplete_tail("\xF0\x9F\x98"), 3u);
  EXPECT_EQ(utf8::incomplete_tail("\xF0\x9F\x98\x80"), 0u);
  EXPECT_EQ(utf8::incomplete_tail("\xED\xA0"), 0u);  // already invalid: nothing to wait for
  EXPECT_EQ(utf8::incomplete_tail("\x80\x80"), 0u);
}

TEST(ByteLevelTable, MapsEveryByteToAPrintableCharacterAndBack) {
  EXPECT_EQ(byte_level::encode(" "), "\xC4\xA0");   // Ġ
  EXPECT_EQ(byte_level::encode("\n"), "\xC4\x8A");  // Ċ
  EXPECT_EQ(byte_level::encode("a!~"), "a!~");
  EXPECT_EQ(byte_level::encode("\xAD"), "\xC5\x83");  // soft hyphen is the last remapped byte: U+0143
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string back;
  ASSERT_TRUE(byte_level::append_decoded(byte_level::encode(all), back));
  EXPECT_EQ(back, all);
  std::string untouched = "x";
  EXPECT_FALSE(byte_level::append_decoded("\xE4\xBD\xA0", untouched));  // 你 is not in the table
  EXPECT_EQ(untouched, "x");
}

TEST(RegexRewrite, WhitespaceClassMatchesOniguruma) {
  EXPECT_EQ(oniguruma_whitespace(R"(\s+(?!\S))"), R"([\t\n\x0B\f\r\x{85}\p{Z}]+(?![^\t\n\x0B\f\r\x{85}\p{Z}]))");
  EXPECT_EQ(oniguruma_whitespace(R"([^\s\p{L}])"), R"([^\t\n\x0B\f\r\x{85}\p{Z}\p{L}])");
  EXPECT_EQ(oniguruma_whitespace(R"(\\s[]\s])"), R"(\\s[]\t\n\x0B\f\r\x{85}\p{Z}])");
  std::vector<std::pair<size_t, size_t>> matches;
  Regex(R"(\s+)").find_all("a\xE1\xA0\x8E" "b \xC2\x85" "c", matches);  // U+180E is not space, U+0085 is
  EXPECT_EQ(matches, (std::vector<std::pair<size_t, size_t>>{{5, 8}}));
}

TEST(RegexRewrite, EmptyMatchesAdvanceByOneCharacter) {
  std::vector<std::pair<size_t, size_t>> matches;
  Regex("x*").find_all("a\xC3\xA9x", matches);
  EXPECT_EQ(matches, (std::vector<std::pair<size_t, size_t>>{{0, 0}, {1, 1}, {3, 4}, {4, 4}}));
}

}  // namespace
}  // namespace troupe
