#pragma once
// A bounded, thread-safe memo of BPE results per pre-tokenized piece. Natural text repeats its words,
// so most pieces skip the merge loop; sharding keeps encoding threads off each other's lock. A full
// shard is cleared rather than evicted entry by entry: cheap, and it follows a changing workload
// (HF's own cache instead stops inserting once full).
#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace troupe {

struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

class PieceCache {
 public:
  static constexpr size_t kShards = 16;
  static constexpr size_t kEntriesPerShard = 4096;  // 64 Ki pieces in all
  static constexpr size_t kMaxPieceBytes = 256;     // longer pieces are rare and would bloat the memo

  // Appends the cached ids of `piece` to `out` and returns true on a hit.
  bool lookup(std::string_view piece, std::vector<int32_t>& out) const {
    Shard& shard = shard_of(piece);
    std::lock_guard lock(shard.mutex);
    const auto it = shard.entries.find(piece);
    if (it == shard.entries.end()) return false;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return true;
  }

  void insert(std::string_view piece, std::span<const int32_t> ids) const {
    if (piece.size() > kMaxPieceBytes) return;
    Shard& shard = shard_of(piece);
    std::lock_guard lock(shard.mutex);
    if (shard.entries.size() >= kEntriesPerShard) shard.entries.clear();
    shard.entries.emplace(std::string(piece), std::vector<int32_t>(ids.begin(), ids.end()));
  }

 private:
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<int32_t>, StringViewHash, std::equal_to<>> entries;
  };

  Shard& shard_of(std::string_view piece) const { return shards_[StringViewHash{}(piece) % kShards]; }

  mutable std::array<Shard, kShards> shards_;
};

}  // namespace troupe
