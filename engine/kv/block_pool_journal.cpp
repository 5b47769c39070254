// BlockPool's journal: handing it over (the owner) and replaying it (the mirror). Replay goes
// through the same primitives the owner used (release_block, lru_remove, clear_cache), so the
// mirror's free stack and eviction list end in the same order; what it cannot get from the owner's
// policy it checks: a Take must name the block the owner's policy hands out next, an Evict the
// least recently freed cached block. A mismatch means the two pools have diverged.
#include <algorithm>
#include <stdexcept>
#include <utility>

#include "engine/kv/block_pool.h"

namespace troupe {

bool BlockPool::is_fresh() const {
  const PrefixCacheStats& s = stats_;
  if (!tables_.empty() || !cached_.empty() || lru_size_ != 0) return false;
  if (s.num_queries || s.num_query_tokens || s.num_hit_tokens || s.num_evictions || s.num_cleared) return false;
  for (size_t i = 0; i < free_uncached_.size(); ++i)  // the constructor's order, block 0 on top
    if (free_uncached_[i] != config_.num_blocks - 1 - static_cast<int32_t>(i)) return false;
  return free_uncached_.size() == blocks_.size();
}

void BlockPool::start_journal() {
  if (journaling_) return;
  if (!is_fresh()) throw std::logic_error("BlockPool::start_journal: the pool has changed already");
  journaling_ = true;
  journal_ = PoolJournal{};
  journal_.number = 1;
  journal_.fresh_pool = PoolStart{config_.num_blocks, config_.block_size, config_.enable_prefix_caching};
}

PoolJournal BlockPool::take_journal() {
  if (!journaling_) throw std::logic_error("BlockPool::take_journal: start_journal() was not called");
  // Copied, not moved: the owner's buffers keep their capacity, so a step that recorded nothing
  // allocates nothing, and no step hands the allocator a large block to churn under the
  // scheduler's many small ones (moving and re-reserving cost schedule() ~4 us a step in
  // bench/scheduler).
  PoolJournal out;
  out.number = journal_.number++;
  out.fresh_pool = std::exchange(journal_.fresh_pool, std::nullopt);
  out.ops.assign(journal_.ops.begin(), journal_.ops.end());
  out.cached_tokens.assign(journal_.cached_tokens.begin(), journal_.cached_tokens.end());
  journal_.ops.clear();
  journal_.cached_tokens.clear();
  return out;
}

std::vector<PoolReplayError> BlockPool::replay(const PoolJournal& j) {
  if (journaling_) throw std::logic_error("BlockPool::replay: a journaling pool is an owner, not a mirror");
  std::vector<PoolReplayError> errors;
  const size_t at_end = j.ops.size();
  if (j.fresh_pool) {
    const PoolStart& s = *j.fresh_pool;
    if (s.num_blocks < 1 || s.block_size < 1) {
      errors.push_back({at_end, "journal " + std::to_string(j.number) + " starts a pool of " +
                                    std::to_string(s.num_blocks) + " blocks of " + std::to_string(s.block_size) +
                                    " tokens: nothing replayed"});
      return errors;
    }
    *this = BlockPool(BlockPoolConfig{s.num_blocks, s.block_size, s.enable_prefix_caching, config_.key_fn});
  } else if (j.number != replayed_number_ + 1) {
    errors.push_back({at_end, "journal " + std::to_string(j.number) + " follows journal " +
                                  std::to_string(replayed_number_) + ": journals were lost or reordered"});
  }
  replayed_number_ = j.number;
  size_t next_token = 0;
  for (size_t i = 0; i < j.ops.size(); ++i) {
    std::string why = replay_op(j.ops[i], j.cached_tokens, next_token);
    if (!why.empty()) errors.push_back({i, describe(j.ops[i]) + ": " + why});
  }
  if (next_token != j.cached_tokens.size())
    errors.push_back({at_end, std::to_string(j.cached_tokens.size() - next_token) +
                                  " cached tokens that no Cache op claims"});
  return errors;
}

std::string BlockPool::replay_op(const PoolOp& op, const std::vector<int32_t>& tokens, size_t& next_token) {
  if (op.kind > PoolOpKind::ClearCache) return "unknown op kind " + std::to_string(static_cast<int>(op.kind));
  const auto bs = static_cast<size_t>(config_.block_size);
  if (op.kind == PoolOpKind::Cache) {
    // Claimed first, so that one bad Cache op does not shift the contents of every later one.
    if (tokens.size() - next_token < bs) return "the journal holds no contents for it";
    next_token += bs;
  }
  if (op.kind == PoolOpKind::ClearCache) {
    clear_cache();
    return {};
  }
  if (op.kind == PoolOpKind::Open) {
    if (tables_.count(op.seq)) return "the sequence already holds a block table";
    tables_[op.seq];
    if (config_.enable_prefix_caching) {
      ++stats_.num_queries;
      stats_.num_query_tokens += op.num_query_tokens;
    }
    return {};
  }
  auto table = tables_.find(op.seq);
  const bool needs_table = op.kind != PoolOpKind::Cache && op.kind != PoolOpKind::Evict;
  if (needs_table && table == tables_.end()) return "the sequence holds no block table";
  if (op.kind == PoolOpKind::Close) {
    if (!table->second.blocks.empty())
      return "the sequence still holds " + std::to_string(table->second.blocks.size()) + " blocks";
    tables_.erase(table);
    return {};
  }
  if (op.block < 0 || op.block >= config_.num_blocks)
    return "unknown block (the pool has " + std::to_string(config_.num_blocks) + ")";
  const int32_t b = op.block;
  Block& blk = blocks_[static_cast<size_t>(b)];
  switch (op.kind) {
    case PoolOpKind::Take: {
      if (blk.ref_count > 0) return "the block is in use (ref_count " + std::to_string(blk.ref_count) + ")";
      if (free_uncached_.empty() || free_uncached_.back() != b)
        return free_uncached_.empty() ? "no free uncached block here"
                                      : "the next free uncached block here is " + std::to_string(free_uncached_.back());
      free_uncached_.pop_back();
      blk.ref_count = 1;
      table->second.blocks.push_back(b);
      return {};
    }
    case PoolOpKind::Share: {
      if (!blk.cached) return "the block is not cached";
      auto& held = table->second.blocks;
      if (std::find(held.begin(), held.end(), b) != held.end()) return "the sequence holds the block already";
      if (blk.ref_count++ == 0) lru_remove(b);
      held.push_back(b);
      stats_.num_hit_tokens += config_.block_size;
      return {};
    }
    case PoolOpKind::Cache: {
      if (blk.ref_count <= 0) return "the block is not referenced";
      if (blk.cached) return "the block is cached already";
      if (auto other = cached_.find(op.key); other != cached_.end())
        return "the key is cached already, by block " + std::to_string(other->second);
      blk.cached = true;
      blk.key = op.key;
      blk.parent_key = op.parent_key;
      blk.tokens.assign(tokens.begin() + static_cast<std::ptrdiff_t>(next_token - bs),
                        tokens.begin() + static_cast<std::ptrdiff_t>(next_token));
      cached_.emplace(op.key, b);
      return {};
    }
    case PoolOpKind::Evict: {
      if (!blk.on_lru) return "the block is not a free cached block";
      if (lru_head_ != b) return "the least recently freed cached block here is " + std::to_string(lru_head_);
      lru_remove(b);
      cached_.erase(blk.key);
      blk.cached = false;
      blk.tokens.clear();
      ++stats_.num_evictions;
      free_uncached_.push_back(b);  // the Take that follows hands it out, as the owner did
      return {};
    }
    case PoolOpKind::Release: {
      if (blk.ref_count <= 0) return "double free: the block is not referenced";
      auto& held = table->second.blocks;
      if (held.empty() || held.back() != b)
        return held.empty() ? "the sequence holds no blocks"
                            : "the sequence's last block is " + std::to_string(held.back());
      held.pop_back();
      release_block(b);
      return {};
    }
    default: return "unknown op kind " + std::to_string(static_cast<int>(op.kind));
  }
}

std::string BlockPool::diff(const BlockPool& o) const {
  const BlockPoolConfig& a = config_;
  const BlockPoolConfig& b = o.config_;
  if (a.num_blocks != b.num_blocks || a.block_size != b.block_size ||
      a.enable_prefix_caching != b.enable_prefix_caching)
    return "different shapes";
  if (free_uncached_ != o.free_uncached_) return "different free stacks";
  for (int32_t x = lru_head_, y = o.lru_head_;; x = blocks_[static_cast<size_t>(x)].lru_next,
               y = o.blocks_[static_cast<size_t>(y)].lru_next) {
    if (x != y) return "different eviction orders (block " + std::to_string(x) + " vs " + std::to_string(y) + ")";
    if (x < 0) break;
  }
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const Block& x = blocks_[i];
    const Block& y = o.blocks_[i];
    const std::string name = "block " + std::to_string(i);
    if (x.ref_count != y.ref_count)
      return name + ": ref_count " + std::to_string(x.ref_count) + " vs " + std::to_string(y.ref_count);
    if (x.cached != y.cached) return name + ": cached in one pool only";
    if (x.cached && (x.key != y.key || x.parent_key != y.parent_key || x.tokens != y.tokens))
      return name + ": different cached contents";
  }
  if (tables_.size() != o.tables_.size()) return "different numbers of block tables";
  for (const auto& [seq, t] : tables_) {
    auto it = o.tables_.find(seq);
    if (it == o.tables_.end() || it->second.blocks != t.blocks)
      return "seq " + std::to_string(seq) + ": different block tables";
  }
  const PrefixCacheStats& s = stats_;
  const PrefixCacheStats& r = o.stats_;
  if (s.num_queries != r.num_queries || s.num_query_tokens != r.num_query_tokens ||
      s.num_hit_tokens != r.num_hit_tokens || s.num_evictions != r.num_evictions || s.num_cleared != r.num_cleared)
    return "different prefix-cache statistics";
  return {};
}

}  // namespace troupe
