#include "engine/tokenizer/token_table.h"

#include <algorithm>
#include <bit>
#include <functional>
#include <stdexcept>
#include <string>

namespace troupe {

namespace {

size_t hash_token(std::string_view s) { return std::hash<std::string_view>{}(s); }

// splitmix64's finalizer: pair keys are small dense integers, which need mixing before masking.
uint64_t hash_pair(uint64_t key) {
  key ^= key >> 30;
  key *= 0xbf58476d1ce4e5b9ULL;
  key ^= key >> 27;
  key *= 0x94d049bb133111ebULL;
  return key ^ (key >> 31);
}

size_t table_size_for(size_t count) { return std::bit_ceil(std::max<size_t>(16, count * 2)); }

}  // namespace

TokenTable::TokenTable(const std::vector<std::pair<std::string_view, int32_t>>& entries) {
  int32_t max_id = -1;
  for (const auto& entry : entries) max_id = std::max(max_id, entry.second);
  std::vector<std::string_view> by_id(static_cast<size_t>(max_id + 1));
  present_.assign(by_id.size(), false);
  for (const auto& [token, id] : entries) {
    if (present_[id]) throw std::invalid_argument("two tokens share id " + std::to_string(id));
    by_id[id] = token;
    present_[id] = true;
  }
  size_t bytes = 0;
  for (const auto& token : by_id) bytes += token.size();
  arena_.reserve(bytes);
  offsets_.reserve(by_id.size() + 1);
  for (const auto& token : by_id) {
    offsets_.push_back(static_cast<uint32_t>(arena_.size()));
    arena_ += token;
  }
  offsets_.push_back(static_cast<uint32_t>(arena_.size()));

  slots_.assign(table_size_for(entries.size()), -1);
  const size_t mask = slots_.size() - 1;
  for (int32_t id = 0; id <= max_id; ++id) {
    if (!present_[id]) continue;
    size_t slot = hash_token(by_id[id]) & mask;
    for (; slots_[slot] >= 0; slot = (slot + 1) & mask) {
      if (by_id[slots_[slot]] == by_id[id]) {
        throw std::invalid_argument("token \"" + std::string(by_id[id]) + "\" appears twice in the vocab");
      }
    }
    slots_[slot] = id;
  }
}

std::optional<int32_t> TokenTable::find(std::string_view token) const {
  if (slots_.empty()) return std::nullopt;
  const size_t mask = slots_.size() - 1;
  for (size_t slot = hash_token(token) & mask;; slot = (slot + 1) & mask) {
    const int32_t id = slots_[slot];
    if (id < 0) return std::nullopt;
    if (std::string_view(arena_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]) == token) return id;
  }
}

std::optional<std::string_view> TokenTable::token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= present_.size() || !present_[id]) return std::nullopt;
  return std::string_view(arena_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
}

void MergeTable::reserve(size_t count) {
  if (table_size_for(count) > slots_.size()) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(table_size_for(count), Slot{kEmpty, {}});
    size_ = 0;
    for (const Slot& s : old) {
      if (s.key != kEmpty) insert(static_cast<int32_t>(s.key >> 32), static_cast<int32_t>(s.key & 0xFFFFFFFF), s.merge);
    }
  }
}

void MergeTable::insert(int32_t left, int32_t right, Merge merge) {
  if ((size_ + 1) * 2 > slots_.size()) reserve(std::max<size_t>(size_ + 1, size_ * 2));
  const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  const size_t mask = slots_.size() - 1;
  size_t slot = hash_pair(key) & mask;
  while (slots_[slot].key != kEmpty && slots_[slot].key != key) slot = (slot + 1) & mask;
  if (slots_[slot].key == kEmpty) ++size_;
  slots_[slot] = {key, merge};
}

std::optional<MergeTable::Merge> MergeTable::find(int32_t left, int32_t right) const {
  if (slots_.empty()) return std::nullopt;
  const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  const size_t mask = slots_.size() - 1;
  for (size_t slot = hash_pair(key) & mask;; slot = (slot + 1) & mask) {
    if (slots_[slot].key == key) return slots_[slot].merge;
    if (slots_[slot].key == kEmpty) return std::nullopt;
  }
}

}  // namespace troupe
