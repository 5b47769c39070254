#include "engine/kv/block_pool.h"

#include <algorithm>
#include <stdexcept>

namespace troupe {

BlockPool::BlockPool(BlockPoolConfig config) : config_(config) {
  if (config_.num_blocks < 1) throw std::invalid_argument("BlockPool: num_blocks must be >= 1");
  if (config_.block_size < 1) throw std::invalid_argument("BlockPool: block_size must be >= 1");
  if (config_.key_fn == nullptr) throw std::invalid_argument("BlockPool: key_fn is null");
  blocks_.resize(static_cast<size_t>(config_.num_blocks));
  // Reversed so that block 0 is handed out first: plans read naturally in tests and logs.
  free_uncached_.reserve(blocks_.size());
  for (int32_t b = config_.num_blocks - 1; b >= 0; --b) free_uncached_.push_back(b);
}

int32_t BlockPool::num_free_blocks() const {
  return static_cast<int32_t>(free_uncached_.size()) + lru_size_;
}

double BlockPool::usage() const {
  return static_cast<double>(num_referenced_blocks()) / static_cast<double>(num_blocks());
}

std::span<const int32_t> BlockPool::block_table(SeqId seq) const {
  auto it = tables_.find(seq);
  if (it == tables_.end()) return {};
  return it->second.blocks;
}

PrefixMatch BlockPool::match_prefix(std::span<const int32_t> tokens) const {
  PrefixMatch m;
  m.num_query_tokens = static_cast<int32_t>(tokens.size());
  if (!config_.enable_prefix_caching || tokens.empty()) return m;
  const int32_t bs = config_.block_size;
  // Last-token rule: at least one token stays uncomputed so the step yields its logits.
  const int32_t max_blocks = (m.num_query_tokens - 1) / bs;
  uint64_t parent = kRootBlockKey;
  for (int32_t i = 0; i < max_blocks; ++i) {
    const auto chunk = tokens.subspan(static_cast<size_t>(i) * bs, static_cast<size_t>(bs));
    const uint64_t key = config_.key_fn(parent, chunk);
    auto it = cached_.find(key);
    if (it == cached_.end()) break;
    const Block& b = blocks_[static_cast<size_t>(it->second)];
    // Collision guard: the key matched, the content must too.
    if (b.parent_key != parent || !std::equal(chunk.begin(), chunk.end(), b.tokens.begin(), b.tokens.end()))
      break;
    m.block_ids.push_back(it->second);
    m.keys.push_back(key);
    parent = key;
  }
  m.num_tokens = static_cast<int32_t>(m.block_ids.size()) * bs;
  return m;
}

bool BlockPool::allocate(SeqId seq, int32_t num_tokens, const PrefixMatch& prefix) {
  if (tables_.count(seq)) throw std::logic_error("BlockPool::allocate: sequence already holds blocks");
  if (num_tokens < 0) throw std::invalid_argument("BlockPool::allocate: negative token count");
  if (prefix.block_ids.size() != prefix.keys.size())
    throw std::invalid_argument("BlockPool::allocate: malformed PrefixMatch");
  int32_t reviving = 0;  // matched blocks that no one references: they leave the free count
  for (size_t i = 0; i < prefix.block_ids.size(); ++i) {
    auto it = cached_.find(prefix.keys[i]);
    if (it == cached_.end() || it->second != prefix.block_ids[i])
      throw std::logic_error("BlockPool::allocate: stale PrefixMatch (pool changed since the match)");
    if (blocks_[static_cast<size_t>(prefix.block_ids[i])].ref_count == 0) ++reviving;
  }
  const auto num_matched = static_cast<int32_t>(prefix.block_ids.size());
  const int32_t total = std::max(blocks_for(num_tokens, config_.block_size), num_matched);
  const int32_t fresh = total - num_matched;
  if (fresh + reviving > num_free_blocks()) return false;

  SeqBlocks& t = tables_[seq];
  record({.kind = PoolOpKind::Open, .seq = seq, .num_query_tokens = prefix.num_query_tokens});
  t.blocks.reserve(static_cast<size_t>(total));
  // Take the matched blocks off the eviction list before any fresh block can evict them.
  for (int32_t b : prefix.block_ids) {
    Block& blk = blocks_[static_cast<size_t>(b)];
    if (blk.ref_count++ == 0) lru_remove(b);
    t.blocks.push_back(b);
    record({.kind = PoolOpKind::Share, .block = b, .seq = seq});
  }
  t.keys = prefix.keys;
  for (int32_t i = 0; i < fresh; ++i) t.blocks.push_back(take_fresh_block(seq));
  if (config_.enable_prefix_caching) {
    ++stats_.num_queries;
    stats_.num_query_tokens += prefix.num_query_tokens;
    stats_.num_hit_tokens += prefix.num_tokens;
  }
  return true;
}

bool BlockPool::append_slots(SeqId seq, int32_t num_tokens) {
  auto it = tables_.find(seq);
  if (it == tables_.end()) throw std::logic_error("BlockPool::append_slots: sequence holds no blocks");
  auto& blocks = it->second.blocks;
  const int32_t needed = blocks_for(num_tokens, config_.block_size) - static_cast<int32_t>(blocks.size());
  if (needed <= 0) return true;
  if (needed > num_free_blocks()) return false;
  for (int32_t i = 0; i < needed; ++i) blocks.push_back(take_fresh_block(seq));
  return true;
}

void BlockPool::cache_full_blocks(SeqId seq, std::span<const int32_t> tokens,
                                  int32_t num_computed_tokens) {
  if (!config_.enable_prefix_caching) return;
  auto it = tables_.find(seq);
  if (it == tables_.end()) throw std::logic_error("BlockPool::cache_full_blocks: sequence holds no blocks");
  if (num_computed_tokens > static_cast<int32_t>(tokens.size()))
    throw std::invalid_argument("BlockPool::cache_full_blocks: fewer tokens than computed tokens");
  SeqBlocks& t = it->second;
  const int32_t bs = config_.block_size;
  const size_t full = std::min(static_cast<size_t>(num_computed_tokens / bs), t.blocks.size());
  for (size_t i = t.keys.size(); i < full; ++i) {
    const uint64_t parent = i == 0 ? kRootBlockKey : t.keys[i - 1];
    const auto chunk = tokens.subspan(i * static_cast<size_t>(bs), static_cast<size_t>(bs));
    const uint64_t key = config_.key_fn(parent, chunk);
    t.keys.push_back(key);  // the chain continues even through a block that stays private
    Block& blk = blocks_[static_cast<size_t>(t.blocks[i])];
    if (blk.cached || cached_.count(key)) continue;
    blk.cached = true;
    blk.key = key;
    blk.parent_key = parent;
    blk.tokens.assign(chunk.begin(), chunk.end());
    cached_.emplace(key, t.blocks[i]);
    if (journaling_) {
      record({.kind = PoolOpKind::Cache, .block = t.blocks[i], .key = key, .parent_key = parent});
      journal_.cached_tokens.insert(journal_.cached_tokens.end(), chunk.begin(), chunk.end());
    }
  }
}

bool BlockPool::free(SeqId seq) {
  auto it = tables_.find(seq);
  if (it == tables_.end()) return false;
  const auto& blocks = it->second.blocks;
  for (auto b = blocks.rbegin(); b != blocks.rend(); ++b) {
    release_block(*b);
    record({.kind = PoolOpKind::Release, .block = *b, .seq = seq});
  }
  tables_.erase(it);
  record({.kind = PoolOpKind::Close, .seq = seq});
  return true;
}

int32_t BlockPool::clear_cache() {
  record({.kind = PoolOpKind::ClearCache});
  while (lru_head_ >= 0) {  // the unreferenced cached blocks
    const int32_t b = lru_head_;
    lru_remove(b);
    free_uncached_.push_back(b);
  }
  int32_t dropped = 0;
  for (Block& blk : blocks_) {
    if (!blk.cached) continue;
    blk.cached = false;
    blk.key = blk.parent_key = 0;
    blk.tokens.clear();
    ++dropped;
  }
  cached_.clear();
  stats_.num_cleared += dropped;
  return dropped;
}

int32_t BlockPool::take_fresh_block(SeqId seq) {
  int32_t b;
  if (!free_uncached_.empty()) {
    // An uncached free block costs nothing to reuse; evict only when there is none.
    b = free_uncached_.back();
    free_uncached_.pop_back();
  } else {
    if (lru_head_ < 0) throw std::logic_error("BlockPool: no free block (caller skipped the check)");
    b = lru_head_;
    lru_remove(b);
    Block& blk = blocks_[static_cast<size_t>(b)];
    cached_.erase(blk.key);
    blk.cached = false;
    blk.tokens.clear();
    ++stats_.num_evictions;
    record({.kind = PoolOpKind::Evict, .block = b});
  }
  blocks_[static_cast<size_t>(b)].ref_count = 1;
  record({.kind = PoolOpKind::Take, .block = b, .seq = seq});
  return b;
}

void BlockPool::release_block(int32_t b) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  if (blk.ref_count <= 0) throw std::logic_error("BlockPool: releasing a block that is not referenced");
  if (--blk.ref_count > 0) return;
  if (blk.cached)
    lru_push_back(b);
  else
    free_uncached_.push_back(b);
}

void BlockPool::lru_push_back(int32_t b) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  blk.lru_prev = lru_tail_;
  blk.lru_next = -1;
  blk.on_lru = true;
  if (lru_tail_ >= 0)
    blocks_[static_cast<size_t>(lru_tail_)].lru_next = b;
  else
    lru_head_ = b;
  lru_tail_ = b;
  ++lru_size_;
}

void BlockPool::lru_remove(int32_t b) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  if (blk.lru_prev >= 0)
    blocks_[static_cast<size_t>(blk.lru_prev)].lru_next = blk.lru_next;
  else
    lru_head_ = blk.lru_next;
  if (blk.lru_next >= 0)
    blocks_[static_cast<size_t>(blk.lru_next)].lru_prev = blk.lru_prev;
  else
    lru_tail_ = blk.lru_prev;
  blk.lru_prev = blk.lru_next = -1;
  blk.on_lru = false;
  --lru_size_;
}

std::string BlockPool::audit() const {
  const auto n = static_cast<size_t>(config_.num_blocks);
  std::vector<int32_t> refs(n, 0);
  for (const auto& [seq, t] : tables_) {
    std::vector<int32_t> sorted = t.blocks;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
      return "sequence " + std::to_string(seq) + " holds a block twice";
    if (t.keys.size() > t.blocks.size()) return "sequence " + std::to_string(seq) + " has more keys than blocks";
    for (int32_t b : t.blocks) {
      if (b < 0 || static_cast<size_t>(b) >= n) return "block id out of range in a table";
      ++refs[static_cast<size_t>(b)];
    }
  }
  std::vector<int32_t> on_free(n, 0);
  for (int32_t b : free_uncached_) ++on_free[static_cast<size_t>(b)];
  int32_t lru_count = 0;
  for (int32_t b = lru_head_, prev = -1; b >= 0; prev = b, b = blocks_[static_cast<size_t>(b)].lru_next) {
    if (blocks_[static_cast<size_t>(b)].lru_prev != prev) return "eviction list links are broken";
    if (++lru_count > config_.num_blocks) return "eviction list has a cycle";
  }
  if (lru_count != lru_size_) return "eviction list size is wrong";
  int32_t num_cached = 0;
  for (size_t b = 0; b < n; ++b) {
    const Block& blk = blocks_[b];
    const std::string name = "block " + std::to_string(b);
    if (blk.ref_count != refs[b])
      return name + ": ref_count " + std::to_string(blk.ref_count) + " but held by " + std::to_string(refs[b]);
    const int states = (blk.ref_count > 0) + on_free[b] + blk.on_lru;
    if (states != 1) return name + " is in " + std::to_string(states) + " states";
    if (on_free[b] && blk.cached) return name + " is cached but on the uncached free stack";
    if (blk.on_lru && !blk.cached) return name + " is uncached but on the eviction list";
    if (blk.cached) {
      ++num_cached;
      auto it = cached_.find(blk.key);
      if (it == cached_.end() || it->second != static_cast<int32_t>(b)) return name + " is cached but not in the map";
      if (static_cast<int32_t>(blk.tokens.size()) != config_.block_size) return name + " is cached but not full";
    }
  }
  if (num_cached != static_cast<int32_t>(cached_.size())) return "the key map holds blocks that are not cached";
  return {};
}

}  // namespace troupe
