#pragma once
// Flat lookup tables for the BPE model. The vocab and the merges are built once (hundreds of
// thousands of entries) and then only read, on every load and in the encode loop, so open addressing
// over contiguous arrays beats node-based maps: fewer allocations at load, fewer cache misses per
// lookup.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe {

// Token strings by id, plus a hash index from string to id.
class TokenTable {
 public:
  // `entries` may be in any order; strings and ids (in [0, 2^24)) must be distinct, else
  // std::invalid_argument.
  explicit TokenTable(const std::vector<std::pair<std::string_view, int32_t>>& entries);
  TokenTable() = default;

  std::optional<int32_t> find(std::string_view token) const;
  // nullopt when no token has this id (vocabs may have holes).
  std::optional<std::string_view> token(int32_t id) const;
  int32_t max_id() const { return static_cast<int32_t>(offsets_.empty() ? -1 : offsets_.size() - 2); }

 private:
  std::string arena_;              // every token's bytes, in id order
  std::vector<uint32_t> offsets_;  // [max_id + 2]: token id spans [offsets_[id], offsets_[id + 1])
  std::vector<bool> present_;      // [max_id + 1]
  std::vector<int32_t> slots_;     // power-of-two hash table of ids, -1 empty
};

// (left id, right id) -> (rank, merged id).
class MergeTable {
 public:
  struct Merge {
    uint32_t rank;
    int32_t merged_id;
  };

  void reserve(size_t count);
  // A repeated pair keeps its last rank, as HF's HashMap collect does.
  void insert(int32_t left, int32_t right, Merge merge);
  std::optional<Merge> find(int32_t left, int32_t right) const;

 private:
  struct Slot {
    uint64_t key;  // left << 32 | right; kEmpty when unused
    Merge merge;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace troupe
