#pragma once
// PoolJournal: what a BlockPool did since the journal was last taken, as plain data, so that a
// second pool elsewhere (the kv_manager's mirror) can replay it and end in the same state without
// the owner ever waiting for it. The owner takes one journal per step; the ops are recorded in
// the order the pool did them, at the level of single blocks, so that the replaying side can
// check each one (no double free, no reference count below zero, no share of an uncached block)
// instead of trusting a summary.
//
// A pool's journals are numbered 1, 2, 3, ... The first one names the pool's shape
// (`fresh_pool`): a mirror that sees it starts over from an empty pool of that shape, which is how
// it follows an owner that was rebuilt (a restarted scheduler). A gap in the numbers means a
// journal was lost, and the mirror says so.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/kv/seq_id.h"

namespace troupe {

// Append-only: the values are on the wire (wire/pool_journal.capnp, PoolOpKind).
enum class PoolOpKind : uint8_t {
  Open,        // `seq` gets an empty block table (BlockPool::allocate); num_query_tokens is what the
               // allocation asked the prefix cache about (for the hit statistics)
  Take,        // `block`, the next free uncached block, is appended to `seq`'s table, ref_count 1
  Share,       // cached `block` is appended to `seq`'s table, ref_count + 1 (a prefix-cache hit)
  Cache,       // referenced `block` is registered under `key` (chained from `parent_key`), with the
               // journal's next block_size cached_tokens as its contents
  Evict,       // unreferenced cached `block`, the least recently freed one, leaves the cache and
               // becomes free uncached (a Take of it follows)
  Release,     // the last block of `seq`'s table, `block`, is dropped, ref_count - 1
  Close,       // `seq`'s table, now empty, is removed (BlockPool::free)
  ClearCache,  // BlockPool::clear_cache(): the memory behind the blocks was lost
};

const char* to_string(PoolOpKind kind);

struct PoolOp {
  PoolOpKind kind = PoolOpKind::Open;
  int32_t block = -1;            // Take, Share, Cache, Evict, Release; else -1
  SeqId seq = 0;                 // Open, Take, Share, Release, Close
  uint64_t key = 0;              // Cache: the block's chained key (block_hash.h)
  uint64_t parent_key = 0;       // Cache: the key of the block before it
  int32_t num_query_tokens = 0;  // Open: the PrefixMatch's num_query_tokens

  bool operator==(const PoolOp&) const = default;
};

// "Take block 3 for seq 7", for logs and audit reports.
std::string describe(const PoolOp& op);

// The shape of a pool that starts from nothing (BlockPoolConfig without the test-only hash).
struct PoolStart {
  int32_t num_blocks = 0;
  int32_t block_size = 16;
  bool enable_prefix_caching = true;

  bool operator==(const PoolStart&) const = default;
};

struct PoolJournal {
  uint64_t number = 0;                  // 1 for a pool's first journal, then +1 per take
  uint64_t step_id = 0;                 // the owner's step it ends with (for logs); 0 if none
  std::optional<PoolStart> fresh_pool;  // set on journal 1: the mirror starts over
  std::vector<PoolOp> ops;              // in the order the pool did them
  std::vector<int32_t> cached_tokens;   // [number of Cache ops * block_size]: each Cache op's
                                        // block contents, in op order

  bool operator==(const PoolJournal&) const = default;
};

// One op a replay refused (it is skipped; the ops after it are still applied).
struct PoolReplayError {
  size_t op_index = 0;  // into PoolJournal::ops; ops.size() for a journal-level problem
  std::string what;     // names the op and why, e.g. "Release block 3 of seq 7: double free ..."
};

}  // namespace troupe
