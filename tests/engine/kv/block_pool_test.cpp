// BlockPool without the prefix cache's lookups: sizes, reference counts, the free list, "no room".
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "engine/kv/block_pool.h"
#include "tests/engine/token_run.h"

namespace troupe {
namespace {

BlockPool make_pool(int32_t num_blocks, bool caching = true) {
  return BlockPool(BlockPoolConfig{num_blocks, /*block_size=*/16, caching});
}

using testing::tokens;

std::vector<int32_t> table(const BlockPool& p, SeqId s) {
  auto t = p.block_table(s);
  return {t.begin(), t.end()};
}

TEST(BlockPool, FreshPoolIsAllFree) {
  BlockPool p = make_pool(8);
  EXPECT_EQ(p.num_free_blocks(), 8);
  EXPECT_EQ(p.num_referenced_blocks(), 0);
  EXPECT_DOUBLE_EQ(p.usage(), 0.0);
  EXPECT_EQ(p.audit(), "");
}

TEST(BlockPool, AllocateTakesOneBlockPerStartedBlockOfTokens) {
  BlockPool p = make_pool(8);
  ASSERT_TRUE(p.allocate(1, 33));
  EXPECT_EQ(table(p, 1), (std::vector<int32_t>{0, 1, 2}));
  for (int32_t b : table(p, 1)) EXPECT_EQ(p.ref_count(b), 1);
  EXPECT_EQ(p.num_free_blocks(), 5);
  EXPECT_DOUBLE_EQ(p.usage(), 3.0 / 8.0);
  EXPECT_EQ(p.audit(), "");
}

TEST(BlockPool, NoRoomIsFalseAndChangesNothing) {
  BlockPool p = make_pool(4);
  ASSERT_TRUE(p.allocate(1, 32));
  EXPECT_FALSE(p.allocate(2, 33));  // needs 3, 2 free
  EXPECT_FALSE(p.holds_blocks(2));
  EXPECT_FALSE(p.append_slots(1, 80));  // needs 3 more
  EXPECT_EQ(table(p, 1).size(), 2u);
  EXPECT_EQ(p.num_free_blocks(), 2);
  EXPECT_EQ(p.audit(), "");
}

TEST(BlockPool, AppendSlotsGrowsOnlyAcrossABlockBoundary) {
  BlockPool p = make_pool(4);
  ASSERT_TRUE(p.allocate(1, 16));
  ASSERT_TRUE(p.append_slots(1, 16));
  EXPECT_EQ(table(p, 1).size(), 1u);
  ASSERT_TRUE(p.append_slots(1, 17));
  EXPECT_EQ(table(p, 1).size(), 2u);
  ASSERT_TRUE(p.append_slots(1, 10));  // never shrinks
  EXPECT_EQ(table(p, 1).size(), 2u);
}

TEST(BlockPool, FreeReturnsEveryBlockAndFreeingTwiceIsHarmless) {
  BlockPool p = make_pool(4);
  ASSERT_TRUE(p.allocate(1, 40));
  ASSERT_TRUE(p.allocate(2, 10));
  EXPECT_TRUE(p.free(1));
  EXPECT_FALSE(p.free(1));
  EXPECT_FALSE(p.free(99));
  EXPECT_EQ(p.num_free_blocks(), 3);
  EXPECT_TRUE(p.free(2));
  EXPECT_EQ(p.num_free_blocks(), 4);
  EXPECT_TRUE(p.block_table(1).empty());
  EXPECT_EQ(p.audit(), "");
}

TEST(BlockPool, FreedBlocksAreReused) {
  BlockPool p = make_pool(2);
  ASSERT_TRUE(p.allocate(1, 32));
  p.free(1);
  ASSERT_TRUE(p.allocate(2, 32));
  EXPECT_EQ(p.num_free_blocks(), 0);
  EXPECT_EQ(p.audit(), "");
}

TEST(BlockPool, MisuseThrows) {
  BlockPool p = make_pool(4);
  ASSERT_TRUE(p.allocate(1, 1));
  EXPECT_THROW(p.allocate(1, 1), std::logic_error);
  EXPECT_THROW(p.append_slots(2, 1), std::logic_error);
  EXPECT_THROW(BlockPool(BlockPoolConfig{0, 16, true}), std::invalid_argument);
  EXPECT_THROW(BlockPool(BlockPoolConfig{4, 0, true}), std::invalid_argument);
}

TEST(BlockPool, SharedPrefixBlockIsCountedNotCopied) {
  BlockPool p = make_pool(8);
  const auto prompt = tokens(100, 40);
  ASSERT_TRUE(p.allocate(1, 40));
  p.cache_full_blocks(1, prompt, 40);  // blocks 0 and 1 full, 2 partial
  const PrefixMatch m = p.match_prefix(prompt);
  ASSERT_EQ(m.num_tokens, 32);
  ASSERT_TRUE(p.allocate(2, 40, m));
  const auto t1 = table(p, 1), t2 = table(p, 2);
  EXPECT_EQ(t2[0], t1[0]);
  EXPECT_EQ(t2[1], t1[1]);
  EXPECT_NE(t2[2], t1[2]);  // the partial block is private
  EXPECT_EQ(p.ref_count(t1[0]), 2);
  EXPECT_EQ(p.num_referenced_blocks(), 4);
  p.free(1);
  EXPECT_EQ(p.ref_count(t1[0]), 1);
  p.free(2);
  EXPECT_EQ(p.ref_count(t1[0]), 0);
  EXPECT_TRUE(p.is_cached(t1[0]));
  EXPECT_EQ(p.num_free_blocks(), 8);  // cached but unreferenced counts as free
  EXPECT_EQ(p.audit(), "");
}

// Random operations on a small pool, clear_cache() among them: the audit holds after each, and
// freeing everything gives every block back.
TEST(BlockPool, RandomOperationsKeepInvariantsAndLeakNothing) {
  std::mt19937 rng(7);
  BlockPool p(BlockPoolConfig{12, 4, true});
  struct Live { std::vector<int32_t> toks; };
  std::vector<std::pair<SeqId, Live>> live;
  SeqId next = 1;
  for (int op = 0; op < 5000; ++op) {
    if (op % 97 == 96) {  // now and then the cache is wiped (the KV memory was lost)
      const int32_t free_before = p.num_free_blocks();
      p.clear_cache();
      ASSERT_EQ(p.num_cached_blocks(), 0);
      ASSERT_EQ(p.num_free_blocks(), free_before);
      ASSERT_EQ(p.audit(), "") << "after clear_cache at op " << op;
      continue;
    }
    const int kind = static_cast<int>(rng() % 4);
    if (kind == 0 || live.empty()) {  // allocate, half of the prompts from a shared pool of prefixes
      Live l;
      const int32_t len = 1 + static_cast<int32_t>(rng() % 20);
      const int32_t family = static_cast<int32_t>(rng() % 3);
      for (int32_t i = 0; i < len; ++i) l.toks.push_back(i < 8 ? family * 100 + i : static_cast<int32_t>(rng() % 5));
      const PrefixMatch m = p.match_prefix(l.toks);
      ASSERT_LT(m.num_tokens, len);
      const int32_t hold = m.num_tokens + 1 + static_cast<int32_t>(rng() % (len - m.num_tokens));
      const int32_t free_before = p.num_free_blocks();
      if (p.allocate(next, hold, m)) {
        live.push_back({next, l});
      } else {
        ASSERT_EQ(p.num_free_blocks(), free_before);
      }
      ++next;
    } else {
      const size_t i = rng() % live.size();
      const SeqId seq = live[i].first;
      Live& l = live[i].second;
      if (kind == 1) {  // compute every token the table can hold, then cache the full blocks
        const int32_t computed = std::min<int32_t>(static_cast<int32_t>(p.block_table(seq).size()) * 4,
                                                   static_cast<int32_t>(l.toks.size()));
        p.cache_full_blocks(seq, l.toks, computed);
      } else if (kind == 2) {
        l.toks.push_back(static_cast<int32_t>(rng() % 5));
        (void)p.append_slots(seq, static_cast<int32_t>(l.toks.size()));
      } else {
        ASSERT_TRUE(p.free(seq));
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
    ASSERT_EQ(p.audit(), "") << "after op " << op;
  }
  for (auto& [seq, l] : live) p.free(seq);
  EXPECT_EQ(p.num_free_blocks(), 12);
  EXPECT_EQ(p.num_referenced_blocks(), 0);
  EXPECT_EQ(p.audit(), "");
}

}  // namespace
}  // namespace troupe
