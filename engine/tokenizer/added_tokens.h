#pragma once
// Added tokens of tokenizer.json ("<|im_start|>", "<|eot_id|>", "</think>", ...). They are cut out of
// the text before normalization and pre-tokenization so that they always map to their own id, and
// they are matched whether or not they are special: `special` only matters when decoding.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/tokenizer/piece_cache.h"

namespace troupe {

class Normalizer;

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;
  bool single_word = false;  // only matches when not inside a word
  bool lstrip = false;       // swallows whitespace on its left
  bool rstrip = false;       // swallows whitespace on its right
  bool normalized = true;    // matched in normalized text rather than in the raw input
};

// A stretch of text: either plain text (token == nullptr) to run through the rest of the pipeline,
// or the span an added token matched (whitespace it strips included).
struct TextSegment {
  size_t begin;
  size_t end;
  const AddedToken* token;
};

// Leftmost-longest matching of a fixed set of strings (HF uses Aho-Corasick with the same match kind);
// a byte trie is enough for the few hundred added tokens real files have.
class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(const std::vector<std::pair<std::string, const AddedToken*>>& patterns);

  // Segments tiling `text` (valid UTF-8), honouring single_word / lstrip / rstrip like HF.
  std::vector<TextSegment> split(std::string_view text) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;
    const AddedToken* token = nullptr;
  };
  // Longest pattern starting at `pos`: {token, end} or {nullptr, pos}.
  std::pair<const AddedToken*, size_t> longest_at(std::string_view text, size_t pos) const;

  std::vector<Node> nodes_{Node{}};
  bool first_byte_[256] = {};
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  // `normalizer` (may be null) turns the contents of normalized tokens into what they match.
  AddedVocabulary(const nlohmann::json& added_tokens, const Normalizer* normalizer);
  // The matchers point into tokens_: a move keeps the vector's buffer, a copy would not.
  AddedVocabulary(const AddedVocabulary&) = delete;
  AddedVocabulary& operator=(const AddedVocabulary&) = delete;
  AddedVocabulary(AddedVocabulary&&) = default;
  AddedVocabulary& operator=(AddedVocabulary&&) = default;

  const AddedTokenMatcher& raw_matcher() const { return raw_matcher_; }
  const AddedTokenMatcher& normalized_matcher() const { return normalized_matcher_; }
  bool has_normalized_tokens() const { return has_normalized_; }

  const AddedToken* by_id(int32_t id) const;
  const AddedToken* by_content(std::string_view content) const;
  int32_t max_id() const { return max_id_; }

 private:
  std::vector<AddedToken> tokens_;  // never resized after construction: matchers point into it
  std::unordered_map<int32_t, size_t> index_by_id_;
  std::unordered_map<std::string, size_t, StringViewHash, std::equal_to<>> index_by_content_;
  AddedTokenMatcher raw_matcher_;
  AddedTokenMatcher normalized_matcher_;
  bool has_normalized_ = false;
  int32_t max_id_ = -1;
};

}  // namespace troupe
