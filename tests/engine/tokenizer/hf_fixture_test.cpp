// Pins encode/decode of the real Qwen3 and Llama 3 tokenizer.json files to the ids and texts Hugging
// Face `tokenizers` produced (tests/fixtures/tokenizer/*.json), and the properties that follow.
#include <gtest/gtest.h>
#include <utf8proc.h>  // utf8proc_NFC: the expected text of a Qwen3 round trip

#include <cstdlib>

#include "engine/tokenizer/incremental_detokenizer.h"
#include "tests/engine/tokenizer/tokenizer_test_support.h"

namespace troupe {
namespace {

using test::hf_fixture;
using test::ids_string;
using test::quoted;
using test::real_tokenizer;

class HfFixture : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    tokenizer_ = real_tokenizer(GetParam());
    ASSERT_NE(tokenizer_, nullptr);
    fixture_ = hf_fixture(GetParam());
    ASSERT_TRUE(fixture_.contains("encode") && fixture_.contains("decode"));
    ASSERT_FALSE(fixture_["encode"].empty());
  }
  const Tokenizer* tokenizer_ = nullptr;
  nlohmann::json fixture_;
};

TEST_P(HfFixture, EncodeWithSpecialTokensMatchesHuggingFace) {
  int checked = 0;
  for (const auto& entry : fixture_["encode"]) {
    const auto text = entry["text"].get<std::string>();
    const auto want = entry["ids"].get<std::vector<int32_t>>();
    const auto got = tokenizer_->encode(text, true);
    ASSERT_EQ(got, want) << "text " << quoted(text) << "\n got  " << ids_string(got) << "\n want " << ids_string(want);
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(fixture_["encode"].size()));
}

TEST_P(HfFixture, EncodeWithoutSpecialTokensMatchesHuggingFace) {
  for (const auto& entry : fixture_["encode"]) {
    const auto text = entry["text"].get<std::string>();
    const auto want = entry["ids_no_special"].get<std::vector<int32_t>>();
    const auto got = tokenizer_->encode(text, false);
    ASSERT_EQ(got, want) << "text " << quoted(text) << "\n got  " << ids_string(got) << "\n want " << ids_string(want);
  }
}

TEST_P(HfFixture, DecodeMatchesHuggingFace) {
  for (const auto& entry : fixture_["decode"]) {
    const auto ids = entry["ids"].get<std::vector<int32_t>>();
    const auto want = entry["text"].get<std::string>();
    const auto want_skip = entry["text_skip_special"].get<std::string>();
    EXPECT_EQ(tokenizer_->decode(ids, false), want) << "ids " << ids_string(ids) << " want " << quoted(want);
    EXPECT_EQ(tokenizer_->decode(ids, true), want_skip) << "ids " << ids_string(ids) << " want " << quoted(want_skip);
  }
}

// What encode then decode gives back: the normalized text (Qwen3 normalizes to NFC, Llama 3 not at all).
std::string normalized_like(const std::string& tokenizer, const std::string& text) {
  if (tokenizer != "qwen3" || text.empty()) return text;
  utf8proc_uint8_t* nfc = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(text.c_str()));
  std::string out(reinterpret_cast<char*>(nfc));
  std::free(nfc);
  return out;
}

TEST_P(HfFixture, DecodeOfEncodeGivesBackTheNormalizedText) {
  for (const auto& entry : fixture_["encode"]) {
    const auto text = entry["text"].get<std::string>();
    const auto ids = tokenizer_->encode(text, false);
    EXPECT_EQ(tokenizer_->decode(ids), normalized_like(GetParam(), text)) << "text " << quoted(text);
  }
}

// Streams `ids` one at a time; checks each delta is valid UTF-8 and that they add up to decode().
void expect_stream_matches_decode(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, bool skip_special) {
  IncrementalDetokenizer stream(tokenizer, skip_special);
  std::string streamed;
  for (const int32_t id : ids) {
    const std::string delta = stream.push(id);
    ASSERT_TRUE(utf8::is_valid(delta)) << "delta " << quoted(delta) << " of ids " << ids_string(ids);
    streamed += delta;
  }
  const std::string rest = stream.flush();
  ASSERT_TRUE(utf8::is_valid(rest));
  streamed += rest;
  EXPECT_EQ(streamed, tokenizer.decode(ids, skip_special)) << "ids " << ids_string(ids);
}

TEST_P(HfFixture, IncrementalDeltasAreValidUtf8AndAddUpToDecode) {
  for (const auto& entry : fixture_["decode"]) {
    const auto ids = entry["ids"].get<std::vector<int32_t>>();
    expect_stream_matches_decode(*tokenizer_, ids, false);
    expect_stream_matches_decode(*tokenizer_, ids, true);
  }
  for (const auto& entry : fixture_["encode"]) {
    expect_stream_matches_decode(*tokenizer_, entry["ids"].get<std::vector<int32_t>>(), false);
  }
}

TEST_P(HfFixture, TokenLookupsAgreeWithEncode) {
  const Tokenizer& tok = *tokenizer_;
  for (const auto& entry : fixture_["encode"]) {
    for (const int32_t id : entry["ids"].get<std::vector<int32_t>>()) {
      const auto token = tok.id_to_token(id);
      ASSERT_TRUE(token.has_value()) << "id " << id;
      EXPECT_EQ(tok.token_to_id(*token), id) << "token " << quoted(*token);
      EXPECT_LT(id, tok.vocab_size());
    }
  }
  EXPECT_FALSE(tok.id_to_token(tok.vocab_size()).has_value());
  EXPECT_FALSE(tok.id_to_token(-1).has_value());
  EXPECT_FALSE(tok.token_to_id("no such token \xF0\x9F\x98\x80").has_value());
}

INSTANTIATE_TEST_SUITE_P(RealTokenizers, HfFixture, ::testing::Values("qwen3", "llama3"));

TEST(RealTokenizer, Qwen3KnownIdsAndSpecials) {
  const Tokenizer* tok = real_tokenizer("qwen3");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("Hello world"), (std::vector<int32_t>{9707, 1879}));
  EXPECT_EQ(tok->vocab_size(), 151669);
  EXPECT_EQ(tok->token_to_id("<|im_end|>"), 151645);
  EXPECT_TRUE(tok->is_special(151645));
  EXPECT_FALSE(tok->is_special(151668));  // "</think>" is an added token but not special
  EXPECT_FALSE(tok->is_special(9707));
  EXPECT_EQ(tok->encode("</think>", false), (std::vector<int32_t>{151668}));
}

TEST(RealTokenizer, Llama3AddsNoBosBecauseItsPostProcessorIsByteLevel) {
  const Tokenizer* tok = real_tokenizer("llama3");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("Hello world", true), (std::vector<int32_t>{9906, 1917}));
  EXPECT_EQ(tok->vocab_size(), 128256);
  EXPECT_EQ(tok->token_to_id("<|begin_of_text|>"), 128000);
  EXPECT_TRUE(tok->is_special(128009));
  const std::vector<int32_t> ids{128000, 9906, 128009};
  EXPECT_EQ(tok->decode(ids, false), "<|begin_of_text|>Hello<|eot_id|>");
  EXPECT_EQ(tok->decode(ids, true), "Hello");
}

}  // namespace
}  // namespace troupe
