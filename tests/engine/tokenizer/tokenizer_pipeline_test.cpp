// Pins each stage of the encode/decode pipeline on a tokenizer.json small enough to reason about:
// merge order, added-token matching and flags, post-processors, decoders, repair of bad UTF-8.
#include <gtest/gtest.h>

#include <thread>

#include "tests/engine/tokenizer/tiny_tokenizer.h"
#include "tests/engine/tokenizer/tokenizer_test_support.h"

namespace troupe {
namespace {

using Ids = std::vector<int32_t>;

Tokenizer tiny(const nlohmann::json& spec = test::tiny_tokenizer_json()) {
  return Tokenizer::from_json_text(spec.dump(), "tiny/tokenizer.json");
}

TEST(BpeMerges, LowestRankMergesFirst) {
  // (a,b) has rank 0 and (b,c) rank 1, so "abc" goes ab+c -> abc rather than a+bc.
  EXPECT_EQ(tiny().encode("abc", false), (Ids{258}));
  auto spec = test::tiny_tokenizer_json();
  spec["model"]["merges"] = nlohmann::json::array({"b c", "a b", "ab c"});
  EXPECT_EQ(tiny(spec).encode("abc", false), (Ids{'a', 257}));
}

TEST(BpeMerges, EqualRanksMergeLeftmostFirst) {
  EXPECT_EQ(tiny().encode("aaa", false), (Ids{259, 'a'}));
  EXPECT_EQ(tiny().encode("aaaa", false), (Ids{259, 259}));
}

TEST(BpeMerges, AcceptsMergesAsPairs) {
  auto spec = test::tiny_tokenizer_json();
  spec["model"]["merges"] = nlohmann::json::array({{"a", "b"}, {"b", "c"}, {"ab", "c"}});
  EXPECT_EQ(tiny(spec).encode("abcbc", false), (Ids{258, 257}));
}

TEST(BpeMerges, LongPieceIsNotQuadratic) {
  // One 400 KB piece: a quadratic merge loop would take minutes here.
  const std::string text(400001, 'a');
  const Ids ids = tiny().encode(text, false);
  ASSERT_EQ(ids.size(), 200001u);
  EXPECT_EQ(ids.front(), 259);
  EXPECT_EQ(ids.back(), 'a');
}

TEST(BpeMerges, IgnoreMergesMapsAWholeVocabPieceDirectly) {
  auto spec = test::tiny_tokenizer_json();
  spec["model"]["vocab"]["aaa"] = 261;  // reachable only by lookup: no merge builds it
  EXPECT_EQ(tiny(spec).encode("aaa", false), (Ids{259, 'a'}));
  spec["model"]["ignore_merges"] = true;
  EXPECT_EQ(tiny(spec).encode("aaa", false), (Ids{261}));
}

TEST(PreTokenizer, ByteLevelGpt2RegexSplitsBeforeMerging) {
  // " a" merges to "Ġa"; "b" after a space is its own piece, so "ab" is never formed across it.
  EXPECT_EQ(tiny().encode("a b a", false), (Ids{'a', ' ', 'b', 260}));
  EXPECT_EQ(tiny().encode("it's", false), (Ids{'i', 't', '\'', 's'}));
}

TEST(PreTokenizer, SplitBehaviorsFollowHuggingFace) {
  auto spec = test::tiny_tokenizer_json();
  // Merges across '-' that outrank "a b", so the ids show which characters shared a piece.
  spec["model"]["vocab"]["b-"] = 262;
  spec["model"]["vocab"]["-c"] = 263;
  spec["model"]["vocab"]["--"] = 264;
  auto merges = nlohmann::json::array({"b -", "- c", "- -"});
  for (const auto& merge : spec["model"]["merges"]) merges.push_back(merge);
  spec["model"]["merges"] = merges;
  auto with_split = [&](const std::string& behavior, bool invert) {
    spec["pre_tokenizer"] = {{"type", "Sequence"},
                             {"pretokenizers",
                              {{{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}},
                               {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
    return tiny(spec).encode("ab-c--ab", false);
  };
  EXPECT_EQ(with_split("Isolated", false), (Ids{256, '-', 'c', '-', '-', 256}));     // ab|-|c|-|-|ab
  EXPECT_EQ(with_split("Removed", false), (Ids{256, 'c', 256}));                    // ab|c|ab
  EXPECT_EQ(with_split("MergedWithPrevious", false), (Ids{'a', 262, 'c', '-', '-', 256}));  // ab-|c-|-|ab
  EXPECT_EQ(with_split("MergedWithNext", false), (Ids{256, 263, '-', '-', 256}));   // ab|-c|-|-ab
  EXPECT_EQ(with_split("Contiguous", false), (Ids{256, '-', 'c', 264, 256}));       // ab|-|c|--|ab
  EXPECT_EQ(with_split("Removed", true), (Ids{'-', '-', '-'}));                     // the pattern is kept
}

TEST(AddedTokens, LongestMatchWinsAndSplitsBeforeBpe) {
  const Tokenizer tok = tiny();
  EXPECT_EQ(tok.encode("<xy>", false), (Ids{303}));
  EXPECT_EQ(tok.encode("<x>y", false), (Ids{302, 'y'}));
  EXPECT_EQ(tok.encode("a<bos>b", false), (Ids{'a', 300, 'b'}));
  EXPECT_EQ(tok.encode("<bo", false), (Ids{'<', 'b', 'o'}));
}

TEST(AddedTokens, StripFlagsSwallowNeighbouringWhitespace) {
  const Tokenizer tok = tiny();
  EXPECT_EQ(tok.encode("a  [L]", false), (Ids{'a', 304}));
  EXPECT_EQ(tok.encode("[R] \t a", false), (Ids{305, 'a'}));
}

TEST(AddedTokens, SingleWordOnlyMatchesOutsideWords) {
  const Tokenizer tok = tiny();
  EXPECT_EQ(tok.encode("x [W] y", false), (Ids{'x', ' ', 306, ' ', 'y'}));
  EXPECT_EQ(tok.encode("x[W]", false), (Ids{'x', '[', 'W', ']'}));
}

TEST(PostProcessor, TemplateAddsItsSpecialTokensOnlyWhenAsked) {
  const Tokenizer tok = tiny();
  EXPECT_EQ(tok.encode("abc", true), (Ids{300, 258, 301}));
  EXPECT_EQ(tok.encode("abc", false), (Ids{258}));
  EXPECT_EQ(tok.encode("", true), (Ids{300, 301}));
}

TEST(PostProcessor, SequenceOfByteLevelAndTemplateLikeLlama31) {
  auto spec = test::tiny_tokenizer_json();
  spec["post_processor"] = {{"type", "Sequence"},
                            {"processors", {{{"type", "ByteLevel"}, {"trim_offsets", false}}, spec["post_processor"]}}};
  EXPECT_EQ(tiny(spec).encode("abc", true), (Ids{300, 258, 301}));
}

TEST(Decode, ByteLevelRestoresBytesAndSkipsOnlySpecialTokens) {
  const Tokenizer tok = tiny();
  const Ids ids{300, 'a', 260, 302, 0xE2, 0x82, 0xAC, 301};
  EXPECT_EQ(tok.decode(ids, false), "<bos>a a<x>\xE2\x82\xAC<eos>");
  EXPECT_EQ(tok.decode(ids, true), "a a<x>\xE2\x82\xAC");
  EXPECT_EQ(tok.decode(Ids{'a', 99999, -5, 'b'}), "ab");  // unknown ids are dropped
}

TEST(Decode, InvalidBytesBecomeOneReplacementPerMaximalSubpart) {
  const Tokenizer tok = tiny();
  EXPECT_EQ(tok.decode(Ids{0xE2, 0x82, 'a'}), "\xEF\xBF\xBD" "a");
  EXPECT_EQ(tok.decode(Ids{0xF0, 0x80, 'a'}), "\xEF\xBF\xBD\xEF\xBF\xBD" "a");
  EXPECT_EQ(tok.decode(Ids{'a', 0xF0, 0x9F, 0x98}), "a\xEF\xBF\xBD");
}

TEST(Decode, SentencepieceStyleDecoderChain) {
  nlohmann::json spec = {
      {"model",
       {{"type", "BPE"},
        {"vocab", {{"\xE2\x96\x81hello", 0}, {"<0xE2>", 1}, {"<0x82>", 2}, {"<0xAC>", 3}, {"\xE2\x96\x81", 4}}},
        {"merges", nlohmann::json::array()}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}}};
  const Tokenizer tok = tiny(spec);
  EXPECT_EQ(tok.decode(Ids{0, 1, 2, 3, 0}), "hello\xE2\x82\xAC hello");
  EXPECT_EQ(tok.decode(Ids{4, 0}), " hello");  // Strip removes one leading space of the fused text
  // HF turns an invalid run of byte tokens into one U+FFFD per token.
  EXPECT_EQ(tok.decode(Ids{0, 1, 2}), "hello\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Decode, WithoutDecoderTokensAreJoinedBySpaces) {
  auto spec = test::tiny_tokenizer_json();
  spec["decoder"] = nullptr;
  EXPECT_EQ(tiny(spec).decode(Ids{256, 257}), "ab bc");
}

TEST(Encode, InvalidUtf8InputIsRepairedFirst) {
  const Tokenizer tok = tiny();
  EXPECT_EQ(tok.encode("a\xFF" "b", false), tok.encode("a\xEF\xBF\xBD" "b", false));
  EXPECT_EQ(tok.encode(std::string("a\0b", 3), false), (Ids{'a', 0, 'b'}));
}

TEST(Encode, ByteFallbackAndUnkForCharactersOutsideTheVocab) {
  nlohmann::json spec = {{"model",
                          {{"type", "BPE"},
                           {"vocab", {{"<unk>", 0}, {"a", 1}, {"<0xC3>", 2}, {"<0xA9>", 3}}},
                           {"merges", nlohmann::json::array()},
                           {"unk_token", "<unk>"},
                           {"fuse_unk", true},
                           {"byte_fallback", true}}}};
  // é is C3 A9; ü (C3 BC) has no <0xBC>, so it and the following ï fuse into one unk.
  EXPECT_EQ(tiny(spec).encode("a\xC3\xA9\xC3\xBC\xC3\xAF" "a", false), (Ids{1, 2, 3, 0, 1}));
}

TEST(Encode, IsSafeFromManyThreads) {
  const Tokenizer tok = tiny();
  const std::string text = "abc aaa <x> a b [W] abcabc \xE2\x82\xAC";
  const Ids want = tok.encode(text);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        mismatches[t] += tok.encode(text) != want;
        tok.encode(text + std::to_string(i));  // churns the piece cache while others read it
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches, (std::vector<int>{0, 0, 0, 0}));
}

}  // namespace
}  // namespace troupe
