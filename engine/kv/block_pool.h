#pragma once
// BlockPool: the KV-cache blocks as bookkeeping (which physical block holds which tokens of which
// sequence); the executors own the memory. Fixed-size blocks, reference counts, per-sequence
// block tables, and a prefix cache of full blocks.
//
// Invariants (audit() checks them all):
//  - every block is in exactly one state: referenced (ref_count > 0, in >= 1 block table),
//    free and uncached (on the free stack), or free and cached (on the LRU eviction list);
//  - a block's ref_count equals the number of block tables that hold it;
//  - a cached block is full of computed tokens and never written again: sequences write KV only
//    at positions >= their num_computed_tokens, which lie in blocks no one else can hit;
//  - the key -> block map holds exactly the cached blocks.
// "No room" is a return value (false / empty), never an exception; exceptions mean misuse.
//
// Journal (pool_journal.h): after start_journal() the pool records every change as PoolOps, and
// take_journal() hands them over; replay() applies such a journal to another pool, checking every
// op, so that pool (the kv_manager's mirror) ends in the same state: diff() says where two pools
// differ. The per-sequence chain of keys hashed so far is the owner's working state and is not
// mirrored (a mirror never caches blocks itself, it only replays).
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/kv/block_hash.h"
#include "engine/kv/pool_journal.h"
#include "engine/kv/seq_id.h"

namespace troupe {

struct BlockPoolConfig {
  int32_t num_blocks = 0;
  int32_t block_size = 16;  // tokens per block
  bool enable_prefix_caching = true;
  BlockKeyFn key_fn = block_key;  // tests swap in a colliding hash
};

// The cached prefix of a token list: whole blocks, each verified by its stored tokens. Valid only
// until the pool is next changed; allocate() checks that its blocks are still cached.
struct PrefixMatch {
  int32_t num_tokens = 0;          // cached tokens, a multiple of block_size, < num_query_tokens
  int32_t num_query_tokens = 0;    // length of the token list that was looked up
  std::vector<int32_t> block_ids;  // [num_tokens / block_size] physical blocks, in order
  std::vector<uint64_t> keys;      // [num_tokens / block_size] their chained keys
};

struct PrefixCacheStats {
  int64_t num_queries = 0;        // allocations that consulted the cache
  int64_t num_query_tokens = 0;   // tokens those allocations asked about
  int64_t num_hit_tokens = 0;     // of which were served from the cache
  int64_t num_evictions = 0;      // cached blocks dropped to make room
  int64_t num_cleared = 0;        // cached blocks dropped by clear_cache()
};

class BlockPool {
 public:
  explicit BlockPool(BlockPoolConfig config);  // throws std::invalid_argument on a bad config

  // Blocks needed to hold num_tokens tokens.
  static int32_t blocks_for(int32_t num_tokens, int32_t block_size) {
    return (num_tokens + block_size - 1) / block_size;
  }

  // The longest run of cached full blocks that prefixes `tokens`. Never covers the last token:
  // when every token hits, the last one must still be computed to get its logits, so the match
  // stops at the last whole block before it (this may leave up to one block to recompute, but no
  // step ever writes into a block that others share). Changes nothing; empty when caching is off.
  PrefixMatch match_prefix(std::span<const int32_t> tokens) const;

  // Gives a sequence that holds no blocks a table for its first num_tokens tokens: the blocks of
  // `prefix` first (shared, refcount++), then fresh ones. False, and no change, when there are
  // not enough free blocks. num_tokens below prefix.num_tokens is treated as prefix.num_tokens.
  bool allocate(SeqId seq, int32_t num_tokens, const PrefixMatch& prefix = {});

  // Grows a sequence's table to hold num_tokens tokens in all. False, and no change, when there
  // are not enough free blocks. Never shrinks.
  bool append_slots(SeqId seq, int32_t num_tokens);

  // Registers in the prefix cache every block of `seq` that is now full of computed tokens and
  // not yet registered. `tokens` is the sequence's token list (at least num_computed_tokens long).
  // A block whose key is already cached by another block stays private (first one wins).
  void cache_full_blocks(SeqId seq, std::span<const int32_t> tokens, int32_t num_computed_tokens);

  // Releases a sequence's blocks, last block first, so that a prompt's tail is evicted before its
  // head (heads are what other requests share). Cached blocks stay cached. False if `seq` holds
  // no blocks (freeing twice is harmless).
  bool free(SeqId seq);

  // Empties the prefix cache: every cached block is forgotten (its key, its tokens), as when the
  // memory behind the blocks was lost. Unreferenced cached blocks go to the free stack; a block
  // still in a table stays there, private from now on, and goes to the free stack when released.
  // Tables, reference counts and free counts do not change; later full blocks are cached anew.
  // Returns how many blocks were dropped.
  int32_t clear_cache();

  // Physical block of each logical block of `seq`; empty if it holds none. Invalidated by the
  // next call that changes the pool.
  std::span<const int32_t> block_table(SeqId seq) const;
  bool holds_blocks(SeqId seq) const { return tables_.count(seq) != 0; }

  int32_t num_blocks() const { return config_.num_blocks; }
  int32_t block_size() const { return config_.block_size; }
  bool prefix_caching_enabled() const { return config_.enable_prefix_caching; }
  // Free uncached blocks plus cached blocks no one references (those are evicted on demand).
  int32_t num_free_blocks() const;
  int32_t num_cached_blocks() const { return static_cast<int32_t>(cached_.size()); }
  int32_t num_referenced_blocks() const { return num_blocks() - num_free_blocks(); }
  // Referenced blocks / all blocks, in [0, 1].
  double usage() const;
  int32_t ref_count(int32_t block) const { return blocks_.at(block).ref_count; }
  bool is_cached(int32_t block) const { return blocks_.at(block).cached; }
  const PrefixCacheStats& stats() const { return stats_; }

  // Empty when every invariant above holds, else a description of the first violation.
  std::string audit() const;

  // Records every change from now on (off by default: an unread journal would only grow). Only
  // on a pool that has not changed yet (else std::logic_error): journal 1 then starts a mirror
  // from an empty pool of this shape.
  void start_journal();
  bool journaling() const { return journaling_; }
  bool has_journal_ops() const { return !journal_.ops.empty(); }
  // The changes since the previous take (the next number; empty ops if nothing changed).
  // Requires start_journal().
  PoolJournal take_journal();

  // Applies an owner's journal (block_pool_journal.cpp). Each op is checked against this pool
  // before it is applied; one that does not fit (double free, unknown block, a block that is not
  // the one the owner's policy would have picked, ...) is skipped and reported, never thrown, so a
  // corrupt or hostile journal cannot crash the mirror. A journal with fresh_pool first resets
  // this pool to that shape. Empty when every op applied. Not on a journaling pool.
  std::vector<PoolReplayError> replay(const PoolJournal& journal);
  // Empty when `other` is in the same observable state (shape, free stack order, eviction order,
  // every block's reference count and cached contents, block tables, prefix-cache statistics),
  // else the first difference.
  std::string diff(const BlockPool& other) const;

 private:
  struct Block {
    int32_t ref_count = 0;
    bool cached = false;          // registered under `key` in cached_
    uint64_t key = 0;
    uint64_t parent_key = 0;      // key of the block before it (collision guard)
    std::vector<int32_t> tokens;  // [block_size] when cached (collision guard)
    int32_t lru_prev = -1;        // neighbours on the eviction list, -1 at the ends
    int32_t lru_next = -1;
    bool on_lru = false;
  };
  struct SeqBlocks {
    std::vector<int32_t> blocks;  // the block table
    std::vector<uint64_t> keys;   // chained keys of the leading full computed blocks hashed so far
  };

  int32_t take_fresh_block(SeqId seq);  // requires num_free_blocks() > 0
  void release_block(int32_t b);
  void record(const PoolOp& op) {
    if (journaling_) journal_.ops.push_back(op);
  }
  bool is_fresh() const;
  std::string replay_op(const PoolOp& op, const std::vector<int32_t>& tokens, size_t& next_token);
  void lru_push_back(int32_t b);
  void lru_remove(int32_t b);

  BlockPoolConfig config_;
  std::vector<Block> blocks_;                    // [num_blocks]
  std::vector<int32_t> free_uncached_;           // stack; back() is handed out next
  int32_t lru_head_ = -1;                        // least recently freed cached block: evicted first
  int32_t lru_tail_ = -1;
  int32_t lru_size_ = 0;
  std::unordered_map<uint64_t, int32_t> cached_;  // key -> block
  std::unordered_map<SeqId, SeqBlocks> tables_;
  PrefixCacheStats stats_;
  bool journaling_ = false;
  PoolJournal journal_;             // what take_journal() hands over next
  uint64_t replayed_number_ = 0;    // the last journal replay() applied
};

}  // namespace troupe
