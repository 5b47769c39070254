# The kv_manager's journal: what the scheduler's block pool did since the previous one, sent
# scheduler -> kv_manager once per step (troupe::PoolJournal). Part of the cluster wire schema:
# wire/troupe.capnp's framing, evolution rules and wireVersion apply here too.

@0xa65c7cd869facf2b;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("troupe::wire::schema");

# One kind of block operation (troupe::PoolOpKind; engine/kv/pool_journal.h says what each does
# to the pool).
enum PoolOpKind {
  open @0;
  # seqId gets an empty block table; numQueryTokens is what its allocation asked the prefix
  # cache about.
  take @1;
  # block, the next free uncached block, joins seqId's table.
  share @2;
  # Cached block joins seqId's table (a prefix-cache hit).
  cache @3;
  # block is registered in the prefix cache under key (chained from parentKey); its contents
  # are the journal's next blockSize cachedTokens.
  evict @4;
  # Unreferenced cached block, the least recently freed, leaves the cache (a take follows).
  release @5;
  # block, the last of seqId's table, leaves it.
  close @6;
  # seqId's empty table is removed.
  clearCache @7;
  # Every cached block is forgotten (the KV memory behind them was lost).
}

# One block operation (troupe::PoolOp).
struct PoolOp {
  kind @0 :PoolOpKind = open;
  block @1 :Int32 = -1;
  # Physical block index (take, share, cache, evict, release); else -1.
  seqId @2 :UInt64 = 0;
  # Sequence id (open, take, share, release, close).
  key @3 :UInt64 = 0;
  # cache: the block's chained prefix-cache key.
  parentKey @4 :UInt64 = 0;
  # cache: the key of the block before it (0 for a sequence's first block).
  numQueryTokens @5 :Int32 = 0;
  # open: tokens the allocation looked up in the prefix cache.
}

# The shape of a pool that starts empty (troupe::PoolStart).
struct PoolStart {
  numBlocks @0 :Int32 = 0;
  # KV blocks in the pool; > 0.
  blockSize @1 :Int32 = 16;
  # Tokens per block; > 0.
  enablePrefixCaching @2 :Bool = true;
}

# What the scheduler's block pool did since the previous journal (troupe::PoolJournal). The
# kv_manager replays it on its mirror of the pool and checks every op.
struct PoolJournal {
  number @0 :UInt64 = 0;
  # 1 for a pool's first journal, then +1 per journal: a gap means one was lost.
  stepId @1 :UInt64 = 0;
  # The scheduler's step it ends with (for logs); 0 if none.
  freshPool :union {
    none @2 :Void;
    # Continues the previous journal.
    start @3 :PoolStart;
    # A new pool (journal 1 of a scheduler): the mirror starts over from an empty pool.
  }
  ops @4 :List(PoolOp);
  # In the order the pool did them.
  cachedTokens @5 :List(Int32);
  # [number of cache ops * blockSize] token ids: each cache op's block contents, in op order.
}
