#pragma once
// The BPE model of tokenizer.json: a vocab (token string -> id) and ranked merges of id pairs.
// A piece is split into characters, then the lowest-ranked adjacent pair is merged until no pair
// has a merge, exactly as HF `tokenizers` does (ties go to the leftmost pair).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/tokenizer/piece_cache.h"
#include "engine/tokenizer/token_table.h"

namespace troupe {

// model.vocab and model.merges as read_tokenizer_json streams them out of the file.
struct BpeTables {
  bool has_vocab = false;
  bool has_merges = false;
  std::vector<std::pair<std::string, int64_t>> vocab;       // token, id; in file order
  std::vector<std::pair<std::string, std::string>> merges;  // left, right; index is the rank
};

class BpeModel {
 public:
  // `model` is the "model" object (its options), `tables` its vocab and merges as read by
  // read_tokenizer_json. Throws std::invalid_argument for a model that is not BPE, options we do not
  // implement, or merges naming tokens missing from the vocab.
  static std::unique_ptr<BpeModel> from_json(const nlohmann::json& model, const BpeTables& tables);

  // Appends the ids of one pre-tokenized piece. Thread-safe.
  void tokenize(std::string_view piece, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string_view> id_to_token(int32_t id) const { return vocab_.token(id); }
  int32_t max_id() const { return vocab_.max_id(); }

 private:
  BpeModel() = default;
  void build_vocab(const BpeTables& tables);
  void build_merges(const BpeTables& tables);
  // The initial symbols of a piece: one per character (or per byte with byte_fallback, or unk).
  void split_characters(std::string_view piece, std::vector<int32_t>& symbols) const;
  void merge_symbols(std::vector<int32_t>& symbols) const;

  TokenTable vocab_;
  MergeTable merges_;
  std::vector<int32_t> small_char_ids_;  // code point -> id for U+0000..U+03FF, -1 if none
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  PieceCache cache_;
};

}  // namespace troupe
