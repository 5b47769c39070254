// Streaming detokenization: no delta ever carries a broken character, and the deltas add up to decode().
#include <gtest/gtest.h>

#include "engine/tokenizer/incremental_detokenizer.h"
#include "tests/engine/tokenizer/tiny_tokenizer.h"
#include "tests/engine/tokenizer/tokenizer_test_support.h"

namespace troupe {
namespace {

using Ids = std::vector<int32_t>;

Tokenizer tiny() { return Tokenizer::from_json_text(test::tiny_tokenizer_json().dump(), "tiny/tokenizer.json"); }

std::vector<std::string> stream(const Tokenizer& tok, const Ids& ids, bool skip_special = false) {
  IncrementalDetokenizer detok(tok, skip_special);
  std::vector<std::string> deltas;
  for (const int32_t id : ids) deltas.push_back(detok.push(id));
  deltas.push_back(detok.flush());
  return deltas;
}

TEST(IncrementalDetokenizer, HoldsBackACharacterUntilItsLastByteArrives) {
  // The euro sign E2 82 AC arrives one byte per token (byte b has id b in the tiny vocab).
  const auto deltas = stream(tiny(), Ids{'a', 0xE2, 0x82, 0xAC, 'b'});
  EXPECT_EQ(deltas, (std::vector<std::string>{"a", "", "", "\xE2\x82\xAC", "b", ""}));
}

TEST(IncrementalDetokenizer, BrokenSequenceIsEmittedAsReplacementOnceItCannotComplete) {
  // E2 82 then 'a': the sequence is dead as soon as 'a' arrives, as in a full decode.
  EXPECT_EQ(stream(tiny(), Ids{0xE2, 0x82, 'a'}), (std::vector<std::string>{"", "", "\xEF\xBF\xBD" "a", ""}));
  // A stray continuation byte can never complete: it is emitted at once.
  EXPECT_EQ(stream(tiny(), Ids{0x80, 'a'}), (std::vector<std::string>{"\xEF\xBF\xBD", "a", ""}));
}

TEST(IncrementalDetokenizer, FlushEmitsAnUnfinishedCharacterAsReplacement) {
  EXPECT_EQ(stream(tiny(), Ids{'a', 0xF0, 0x9F}), (std::vector<std::string>{"a", "", "", "\xEF\xBF\xBD"}));
}

TEST(IncrementalDetokenizer, SkipsSpecialTokensLikeDecode) {
  const Tokenizer tok = tiny();
  const Ids ids{300, 'a', 302, 301, 'b'};
  EXPECT_EQ(stream(tok, ids, true), (std::vector<std::string>{"", "a", "<x>", "", "b", ""}));
  EXPECT_EQ(stream(tok, ids, false), (std::vector<std::string>{"<bos>", "a", "<x>", "<eos>", "b", ""}));
}

TEST(IncrementalDetokenizer, RealEmojiSplitAcrossLlama3Tokens) {
  const Tokenizer* tok = test::real_tokenizer("llama3");
  ASSERT_NE(tok, nullptr);
  // From the HF fixture: 😀👨‍👩‍👧 cut so that the first token is an unfinished emoji.
  const Ids ids = tok->encode("\xF0\x9F\x98\x80\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9", false);
  std::string streamed;
  IncrementalDetokenizer detok(*tok);
  for (const int32_t id : ids) {
    const std::string delta = detok.push(id);
    ASSERT_TRUE(utf8::is_valid(delta));
    EXPECT_EQ(delta.find("\xEF\xBF\xBD"), std::string::npos) << "a replacement character leaked into the stream";
    streamed += delta;
  }
  streamed += detok.flush();
  EXPECT_EQ(streamed, tok->decode(ids));
  EXPECT_EQ(streamed, "\xF0\x9F\x98\x80\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9");
}

TEST(IncrementalDetokenizer, EveryPrefixOfARealEncodingStreamsCleanly) {
  const Tokenizer* tok = test::real_tokenizer("qwen3");
  ASSERT_NE(tok, nullptr);
  const std::string text =
      "mixed 中文 and emoji 👨\u200d👩\u200d👧 with nbsp\u00a0and \u0915\u094d\u0937 and code { x += 1; }\n";
  const Ids ids = tok->encode(text, false);
  std::string streamed;
  IncrementalDetokenizer detok(*tok);
  for (const int32_t id : ids) {
    const std::string delta = detok.push(id);
    ASSERT_TRUE(utf8::is_valid(delta));
    streamed += delta;
  }
  EXPECT_EQ(detok.flush(), "");
  EXPECT_EQ(streamed, text);
}

}  // namespace
}  // namespace troupe
