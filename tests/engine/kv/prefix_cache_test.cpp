// The prefix cache inside BlockPool: chained keys, hits and misses, the collision guard, the
// last-token rule, and eviction of unreferenced cached blocks only when a block is needed.
#include <gtest/gtest.h>

#include <vector>

#include "engine/kv/block_pool.h"
#include "tests/engine/token_run.h"

namespace troupe {
namespace {

constexpr int32_t kBs = 16;

using testing::tokens;

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Runs a sequence's whole token list through the pool: allocate (with whatever hits), compute,
// cache. Leaves it holding its blocks.
PrefixMatch compute(BlockPool& p, SeqId seq, const std::vector<int32_t>& toks) {
  PrefixMatch m = p.match_prefix(toks);
  EXPECT_TRUE(p.allocate(seq, static_cast<int32_t>(toks.size()), m));
  p.cache_full_blocks(seq, toks, static_cast<int32_t>(toks.size()));
  return m;
}

TEST(BlockKey, ChainsThePrefixKeyAndTheTokens) {
  const auto a = tokens(0, kBs);
  EXPECT_EQ(block_key(kRootBlockKey, a), block_key(kRootBlockKey, a));
  EXPECT_NE(block_key(kRootBlockKey, a), block_key(1, a));
  EXPECT_NE(block_key(kRootBlockKey, a), block_key(kRootBlockKey, tokens(1, kBs)));
}

TEST(PrefixCache, EmptyCacheMisses) {
  BlockPool p(BlockPoolConfig{8, kBs, true});
  const PrefixMatch m = p.match_prefix(tokens(0, 40));
  EXPECT_EQ(m.num_tokens, 0);
  EXPECT_TRUE(m.block_ids.empty());
}

TEST(PrefixCache, OnlyBlocksFullOfComputedTokensAreCached) {
  BlockPool p(BlockPoolConfig{8, kBs, true});
  const auto prompt = tokens(0, 40);
  ASSERT_TRUE(p.allocate(1, 40));
  p.cache_full_blocks(1, prompt, 10);  // block 0 not full yet
  EXPECT_EQ(p.num_cached_blocks(), 0);
  p.cache_full_blocks(1, prompt, 20);
  EXPECT_EQ(p.num_cached_blocks(), 1);
  p.cache_full_blocks(1, prompt, 40);  // block 2 holds 8 of 16: stays private
  EXPECT_EQ(p.num_cached_blocks(), 2);
  EXPECT_EQ(p.match_prefix(concat(prompt, {7})).num_tokens, 32);
}

TEST(PrefixCache, HitReusesTheSameBlocksAndIsCounted) {
  BlockPool p(BlockPoolConfig{8, kBs, true});
  const auto system = tokens(0, 32);
  compute(p, 1, concat(system, {900, 901}));
  const PrefixMatch m = compute(p, 2, concat(system, {500, 501, 502}));
  EXPECT_EQ(m.num_tokens, 32);
  EXPECT_EQ(m.block_ids, (std::vector<int32_t>{p.block_table(1)[0], p.block_table(1)[1]}));
  EXPECT_EQ(p.stats().num_queries, 2);
  EXPECT_EQ(p.stats().num_query_tokens, 34 + 35);
  EXPECT_EQ(p.stats().num_hit_tokens, 32);
  EXPECT_EQ(p.audit(), "");
}

TEST(PrefixCache, MatchNeverCoversTheLastToken) {
  BlockPool p(BlockPoolConfig{8, kBs, true});
  const auto prompt = tokens(0, 32);
  compute(p, 1, prompt);
  EXPECT_EQ(p.num_cached_blocks(), 2);
  // Every token is cached, but the last must be computed for its logits: one block is left.
  EXPECT_EQ(p.match_prefix(prompt).num_tokens, 16);
  EXPECT_EQ(p.match_prefix(concat(prompt, {1})).num_tokens, 32);
  EXPECT_EQ(p.match_prefix(tokens(0, 1)).num_tokens, 0);
}

TEST(PrefixCache, SameBlockAfterADifferentPrefixMisses) {
  BlockPool p(BlockPoolConfig{8, kBs, true});
  const auto shared_tail = tokens(1000, kBs);
  compute(p, 1, concat(concat(tokens(0, kBs), shared_tail), {1}));
  // Block 1 has the same tokens but follows another block 0: its KV differs, so no hit.
  EXPECT_EQ(p.match_prefix(concat(concat(tokens(50, kBs), shared_tail), {1})).num_tokens, 0);
}

uint64_t every_key_collides(uint64_t, std::span<const int32_t>) { return 42; }

TEST(PrefixCache, CollidingKeyWithOtherTokensIsAMiss) {
  BlockPool p(BlockPoolConfig{8, kBs, true, every_key_collides});
  compute(p, 1, tokens(0, 20));
  EXPECT_EQ(p.num_cached_blocks(), 1);
  EXPECT_EQ(p.match_prefix(tokens(100, 20)).num_tokens, 0);  // key 42 found, tokens differ
  EXPECT_EQ(p.match_prefix(tokens(0, 20)).num_tokens, 16);   // same tokens: a true hit
}

uint64_t key_ignores_prefix(uint64_t, std::span<const int32_t> toks) {
  return block_key(kRootBlockKey, toks);
}

TEST(PrefixCache, CollidingKeyWithEqualTokensButAnotherPrefixIsAMiss) {
  BlockPool p(BlockPoolConfig{8, kBs, true, key_ignores_prefix});
  const auto w = tokens(0, kBs), x = tokens(100, kBs);
  compute(p, 1, concat(w, {1}));  // caches [w] as a first block
  compute(p, 2, concat(x, {1}));  // caches [x] as a first block
  // [w, x, ...]: block 1's key equals that of sequence 2's first block, and its tokens are
  // equal too, but that block sits at position 0 after nothing; its KV would be wrong here.
  EXPECT_EQ(p.match_prefix(concat(concat(w, x), {1})).num_tokens, kBs);
}

TEST(PrefixCache, UnreferencedCachedBlocksAreEvictedOnlyWhenABlockIsNeeded) {
  BlockPool p(BlockPoolConfig{4, kBs, true});
  const auto prompt = concat(tokens(0, 32), {5});
  compute(p, 1, prompt);
  p.free(1);
  EXPECT_EQ(p.num_cached_blocks(), 2);
  EXPECT_EQ(p.num_free_blocks(), 4);
  ASSERT_TRUE(p.allocate(2, 32));  // two uncached free blocks exist: the cache is untouched
  EXPECT_EQ(p.num_cached_blocks(), 2);
  EXPECT_EQ(p.stats().num_evictions, 0);
  ASSERT_TRUE(p.allocate(3, 1));  // now a cached block must go
  EXPECT_EQ(p.num_cached_blocks(), 1);
  EXPECT_EQ(p.stats().num_evictions, 1);
  // A prompt's tail is freed first, so it goes first and the shared head survives.
  EXPECT_EQ(p.match_prefix(prompt).num_tokens, 16);
  EXPECT_EQ(p.audit(), "");
}

TEST(PrefixCache, EvictsTheLeastRecentlyFreedFirst) {
  BlockPool p(BlockPoolConfig{4, kBs, true});
  const auto a = concat(tokens(0, kBs), {1}), b = concat(tokens(100, kBs), {1});
  compute(p, 1, a);  // one cached block and one partial, private block each
  compute(p, 2, b);
  p.free(1);  // a's cached block becomes free first
  p.free(2);
  ASSERT_TRUE(p.allocate(3, 3 * kBs));  // the two uncached free blocks, then one eviction
  EXPECT_EQ(p.match_prefix(a).num_tokens, 0);
  EXPECT_EQ(p.match_prefix(b).num_tokens, kBs);
}

TEST(PrefixCache, AHitTakesAFreeCachedBlockOffTheEvictionList) {
  BlockPool p(BlockPoolConfig{3, kBs, true});
  const auto prompt = concat(tokens(0, kBs), {1});
  compute(p, 1, prompt);
  p.free(1);
  const PrefixMatch m = p.match_prefix(prompt);
  ASSERT_EQ(m.num_tokens, kBs);
  ASSERT_TRUE(p.allocate(2, 17, m));  // revives the cached block, adds one fresh
  EXPECT_EQ(p.ref_count(m.block_ids[0]), 1);
  ASSERT_TRUE(p.allocate(3, 16));     // the last free block; nothing cached may be evicted
  EXPECT_FALSE(p.allocate(4, 1));
  EXPECT_TRUE(p.is_cached(m.block_ids[0]));
  EXPECT_EQ(p.audit(), "");
}

TEST(PrefixCache, RevivingCachedBlocksCountsAgainstRoom) {
  BlockPool p(BlockPoolConfig{2, kBs, true});
  const auto prompt = concat(tokens(0, kBs), {1});
  compute(p, 1, prompt);
  p.free(1);
  ASSERT_TRUE(p.allocate(2, 16));  // takes the uncached block; the cached one is the only free
  const PrefixMatch m = p.match_prefix(prompt);
  ASSERT_EQ(m.num_tokens, kBs);
  EXPECT_FALSE(p.allocate(3, 17, m));  // would need the cached block and one more
  EXPECT_EQ(p.num_free_blocks(), 1);
  EXPECT_EQ(p.audit(), "");
}

TEST(PrefixCache, StaleMatchIsRejected) {
  BlockPool p(BlockPoolConfig{1, kBs, true});
  const auto prompt = concat(tokens(0, kBs), {1});
  ASSERT_TRUE(p.allocate(1, 16));
  p.cache_full_blocks(1, prompt, 16);
  p.free(1);
  const PrefixMatch m = p.match_prefix(prompt);
  ASSERT_EQ(m.num_tokens, kBs);
  ASSERT_TRUE(p.allocate(2, 1));  // evicts the matched block
  p.free(2);
  EXPECT_THROW(p.allocate(3, 17, m), std::logic_error);
}

TEST(PrefixCache, TheFirstOfTwoEqualBlocksIsCachedTheOtherStaysPrivate) {
  BlockPool p(BlockPoolConfig{4, kBs, true});
  const auto prompt = concat(tokens(0, kBs), {1});
  ASSERT_TRUE(p.allocate(1, 17));
  ASSERT_TRUE(p.allocate(2, 17));  // admitted before 1 was computed: no hit
  p.cache_full_blocks(1, prompt, 17);
  p.cache_full_blocks(2, prompt, 17);
  EXPECT_EQ(p.num_cached_blocks(), 1);
  EXPECT_FALSE(p.is_cached(p.block_table(2)[0]));
  p.free(2);
  p.free(1);
  EXPECT_EQ(p.num_free_blocks(), 4);
  EXPECT_EQ(p.audit(), "");
}

TEST(PrefixCache, ClearCacheForgetsEveryCachedBlockAndFreesTheUnreferencedOnes) {
  BlockPool p(BlockPoolConfig{8, kBs, true});
  const auto a = concat(tokens(0, 2 * kBs), {1});
  const auto b = concat(tokens(500, kBs), {1});
  compute(p, 1, a);  // 2 cached blocks + 1 private
  compute(p, 2, b);  // 1 cached + 1 private
  p.free(1);         // its 2 cached blocks go on the eviction list
  ASSERT_EQ(p.num_cached_blocks(), 3);
  const int32_t held = p.block_table(2)[0];
  EXPECT_EQ(p.clear_cache(), 3);
  EXPECT_EQ(p.num_cached_blocks(), 0);
  EXPECT_EQ(p.stats().num_cleared, 3);
  EXPECT_EQ(p.stats().num_evictions, 0);
  EXPECT_FALSE(p.is_cached(held));
  EXPECT_EQ(p.ref_count(held), 1);  // tables and counts are untouched
  EXPECT_EQ(p.num_free_blocks(), 6);
  EXPECT_EQ(p.match_prefix(a).num_tokens, 0);
  EXPECT_EQ(p.match_prefix(b).num_tokens, 0);
  EXPECT_EQ(p.audit(), "");
  // Every free block is now uncached: taking all of them evicts nothing.
  ASSERT_TRUE(p.allocate(3, 6 * kBs));
  EXPECT_EQ(p.stats().num_evictions, 0);
  EXPECT_EQ(p.audit(), "");
  // The block that was cached while held stays private and returns as an uncached free block.
  p.free(2);
  p.free(3);
  EXPECT_EQ(p.num_free_blocks(), 8);
  EXPECT_EQ(p.num_cached_blocks(), 0);
  EXPECT_EQ(p.audit(), "");
  // The cache fills again from scratch.
  compute(p, 4, a);
  EXPECT_EQ(p.num_cached_blocks(), 2);
  p.free(4);
  EXPECT_EQ(p.match_prefix(a).num_tokens, 2 * kBs);
  EXPECT_EQ(p.clear_cache(), 2);
  EXPECT_EQ(p.clear_cache(), 0);  // idempotent
  EXPECT_EQ(p.num_free_blocks(), 8);
  EXPECT_EQ(p.audit(), "");
}

TEST(PrefixCache, OffMeansNoMatchesAndNoCachedBlocks) {
  BlockPool p(BlockPoolConfig{4, kBs, false});
  const auto prompt = concat(tokens(0, 32), {1});
  compute(p, 1, prompt);
  EXPECT_EQ(p.num_cached_blocks(), 0);
  EXPECT_EQ(p.match_prefix(prompt).num_tokens, 0);
  EXPECT_EQ(p.stats().num_queries, 0);
}

}  // namespace
}  // namespace troupe
