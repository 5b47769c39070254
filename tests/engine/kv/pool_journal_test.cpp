// BlockPool's journal: what it records, that replaying it on a second pool reproduces the owner's
// state exactly (free stack and eviction order included) across the randomized scheduler
// workloads, and that a corrupt journal (double free, unknown block, lost journal, a block the
// owner's policy would not have picked) is reported op by op instead of crashing the mirror.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/kv/block_pool.h"
#include "tests/engine/scheduler/random_run.h"
#include "tests/engine/token_run.h"

namespace troupe {
namespace {

constexpr int32_t kBs = 4;

using testing::tokens;

// A sequence through the pool as the scheduler drives it: allocate with its hits, compute, cache.
void compute(BlockPool& p, SeqId seq, const std::vector<int32_t>& toks) {
  const PrefixMatch m = p.match_prefix(toks);
  ASSERT_TRUE(p.allocate(seq, static_cast<int32_t>(toks.size()), m));
  p.cache_full_blocks(seq, toks, static_cast<int32_t>(toks.size()));
}

BlockPool owner(int32_t num_blocks) {
  BlockPool p(BlockPoolConfig{num_blocks, kBs, true});
  p.start_journal();
  return p;
}

// A mirror's starting shape does not matter: journal 1 resets it.
BlockPool mirror() { return BlockPool(BlockPoolConfig{1, 1, false}); }

std::string errors_text(const std::vector<PoolReplayError>& errors) {
  std::string s;
  for (const auto& e : errors) s += "[op " + std::to_string(e.op_index) + "] " + e.what + "\n";
  return s;
}

std::vector<PoolOpKind> kinds(const PoolJournal& j) {
  std::vector<PoolOpKind> k;
  for (const PoolOp& op : j.ops) k.push_back(op.kind);
  return k;
}

TEST(PoolJournal, RecordsEachBlockOperationInOrder) {
  BlockPool p = owner(8);
  compute(p, 1, tokens(0, 9));  // blocks 0, 1 full and cached, block 2 private
  ASSERT_TRUE(p.free(1));
  compute(p, 2, tokens(0, 6));  // hits block 0, takes a fresh block for the rest, caches nothing new
  using K = PoolOpKind;
  const PoolJournal j = p.take_journal();
  EXPECT_EQ(j.number, 1u);
  ASSERT_TRUE(j.fresh_pool.has_value());
  EXPECT_EQ(*j.fresh_pool, (PoolStart{8, kBs, true}));
  EXPECT_EQ(kinds(j), (std::vector<K>{K::Open, K::Take, K::Take, K::Take, K::Cache, K::Cache,  // seq 1
                                      K::Release, K::Release, K::Release, K::Close,           // last block first
                                      K::Open, K::Share, K::Take}));  // seq 2: its full block was a hit
  EXPECT_EQ(j.ops[11].block, 0);
  EXPECT_EQ(j.ops[12].block, 2);  // seq 1's uncached last block, freed first: the top of the free stack
  EXPECT_EQ(j.ops[0].num_query_tokens, 9);
  EXPECT_EQ(j.cached_tokens, tokens(0, 2 * kBs));  // the contents of seq 1's two full blocks
  const PoolJournal next = p.take_journal();
  EXPECT_EQ(next.number, 2u);
  EXPECT_FALSE(next.fresh_pool.has_value());
  EXPECT_TRUE(next.ops.empty());
}

TEST(PoolJournal, ReplayReproducesEvictionOrderSharingAndClearing) {
  BlockPool p = owner(6);
  BlockPool m = mirror();
  for (SeqId s = 1; s <= 5; ++s) {  // each new prompt evicts older cached blocks in LRU order
    compute(p, s, tokens(static_cast<int32_t>(s) * 100, 9));
    if (s % 2) compute(p, 100 + s, tokens(static_cast<int32_t>(s) * 100, 7));  // shares its prefix
    p.free(s);
    p.free(100 + s);
    ASSERT_EQ(errors_text(m.replay(p.take_journal())), "");
    ASSERT_EQ(m.diff(p), "") << "after seq " << s;
  }
  EXPECT_GT(p.stats().num_evictions, 0);
  EXPECT_GT(p.stats().num_hit_tokens, 0);
  compute(p, 9, tokens(500, 9));
  p.clear_cache();
  ASSERT_EQ(errors_text(m.replay(p.take_journal())), "");
  EXPECT_EQ(m.diff(p), "");
  EXPECT_EQ(m.audit(), "");
  EXPECT_EQ(m.block_table(9).size(), p.block_table(9).size());
  EXPECT_EQ(m.match_prefix(tokens(500, 9)).num_tokens, 0);  // cleared on both sides
}

TEST(PoolJournal, DiffSeesADifferentEvictionOrder) {
  BlockPool a(BlockPoolConfig{4, kBs, true});
  BlockPool b(BlockPoolConfig{4, kBs, true});
  for (BlockPool* p : {&a, &b}) {
    compute(*p, 1, tokens(0, 5));
    compute(*p, 2, tokens(10, 5));
  }
  a.free(1), a.free(2);
  b.free(2), b.free(1);
  EXPECT_NE(a.diff(b), "");
  EXPECT_EQ(a.num_free_blocks(), b.num_free_blocks());  // what a usage count alone would miss
}

TEST(PoolJournal, StartsOnlyOnAnUnchangedPoolAndOnlyOwnersJournal) {
  BlockPool p(BlockPoolConfig{4, kBs, true});
  EXPECT_THROW(p.take_journal(), std::logic_error);
  ASSERT_TRUE(p.allocate(1, 3));
  p.free(1);
  EXPECT_THROW(p.start_journal(), std::logic_error);
  BlockPool o = owner(4);
  EXPECT_THROW(o.replay(PoolJournal{}), std::logic_error);
}

// The owner's first journal, replayed, and a second one to corrupt.
struct Corruptible {
  BlockPool p = owner(8);
  BlockPool m = mirror();
  PoolJournal second;
  Corruptible() {
    compute(p, 1, tokens(0, 9));
    compute(p, 2, tokens(0, 6));  // shares block 0 with seq 1
    EXPECT_EQ(errors_text(m.replay(p.take_journal())), "");
    p.free(1);
    second = p.take_journal();
  }
  size_t find(PoolOpKind kind, int32_t block) const {
    for (size_t i = 0; i < second.ops.size(); ++i)
      if (second.ops[i].kind == kind && second.ops[i].block == block) return i;
    ADD_FAILURE() << "no such op";
    return 0;
  }
};

TEST(PoolJournalAudit, DoubleFreeIsReportedWithItsOpAndTheRestStillApplies) {
  Corruptible c;
  const size_t i = c.find(PoolOpKind::Release, 2);  // seq 1's last block, held by seq 1 only
  c.second.ops.insert(c.second.ops.begin() + static_cast<std::ptrdiff_t>(i) + 1, c.second.ops[i]);
  const auto errors = c.m.replay(c.second);
  ASSERT_EQ(errors.size(), 1u) << errors_text(errors);
  EXPECT_EQ(errors[0].op_index, i + 1);
  EXPECT_NE(errors[0].what.find("Release block 2 of seq 1: double free"), std::string::npos) << errors[0].what;
  EXPECT_EQ(c.m.diff(c.p), "") << "the bad op was skipped, every other one applied";
  EXPECT_EQ(c.m.audit(), "");
}

TEST(PoolJournalAudit, FreeOfAnUnknownBlockIsReported) {
  Corruptible c;
  c.second.ops[c.find(PoolOpKind::Release, 1)].block = 999;
  const auto errors = c.m.replay(c.second);
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].what.find("Release block 999 of seq 1: unknown block"), std::string::npos) << errors[0].what;
}

TEST(PoolJournalAudit, ReleasingABlockTheSequenceDoesNotEndWithIsReported) {
  Corruptible c;
  std::swap(c.second.ops[c.find(PoolOpKind::Release, 2)], c.second.ops[c.find(PoolOpKind::Release, 1)]);
  const auto errors = c.m.replay(c.second);
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].what.find("the sequence's last block is 2"), std::string::npos) << errors[0].what;
}

TEST(PoolJournalAudit, ALostJournalIsReported) {
  Corruptible c;
  c.p.take_journal();  // journal 3, never delivered
  compute(c.p, 3, tokens(50, 5));
  const PoolJournal fourth = c.p.take_journal();
  EXPECT_EQ(errors_text(c.m.replay(c.second)), "");
  const auto errors = c.m.replay(fourth);
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].what.find("journal 4 follows journal 2"), std::string::npos) << errors[0].what;
}

TEST(PoolJournalAudit, ATakeTheOwnersPolicyWouldNotMakeIsReported) {
  BlockPool p = owner(8);
  BlockPool m = mirror();
  compute(p, 1, tokens(0, 3));
  PoolJournal j = p.take_journal();
  j.ops[1].block = 5;  // the owner hands out block 0 first
  const auto errors = m.replay(j);
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].what.find("Take block 5 of seq 1: the next free uncached block here is 0"), std::string::npos)
      << errors[0].what;
}

TEST(PoolJournalAudit, ACacheOpWithoutContentsOrAnOutOfRangeKindIsReportedNotRead) {
  Corruptible c;
  PoolJournal j = c.second;
  j.ops.push_back({.kind = PoolOpKind::Cache, .block = 0, .key = 1});
  j.ops.push_back({.kind = static_cast<PoolOpKind>(77), .block = 0});
  const auto errors = c.m.replay(j);
  ASSERT_EQ(errors.size(), 2u) << errors_text(errors);
  EXPECT_NE(errors[0].what.find("no contents"), std::string::npos) << errors[0].what;
  EXPECT_NE(errors[1].what.find("unknown op kind 77"), std::string::npos) << errors[1].what;
}

TEST(PoolJournalAudit, AFreshPoolOfNoBlocksIsRefused) {
  BlockPool m = mirror();
  PoolJournal j;
  j.number = 1;
  j.fresh_pool = PoolStart{0, kBs, true};
  EXPECT_EQ(m.replay(j).size(), 1u);
  EXPECT_EQ(m.num_blocks(), 1);  // unchanged
}

// The randomized scheduler workloads (tests/engine/scheduler): after every step the scheduler's
// journal, replayed on a mirror, leaves the mirror in exactly the scheduler's pool's state.
using testing::RandomRun;
using testing::Scenario;

const Scenario kJournalScenarios[] = {
    // name                 seed bs blocks seqs budget cache thr   prio  reqs   abort death async
    {"tight_cached",         31, 4,   24,   8,   32,   true,  0,   false, 600,  0.02, 0,    false},
    {"tight_uncached",       32, 4,   24,   8,   32,   false, 0,   false, 400,  0.02, 0,    false},
    {"chunks_prio",          33, 4,   30,  12,   24,   true,  8,   true,  600,  0.05, 0,    false},
    {"deaths_tight_cached",  34, 4,   24,   8,   32,   true,  0,   false, 600,  0.02, 0.03, false},
    {"async_big_blocks",     35, 16,   8,   8,   64,   true,  0,   true,  600,  0.02, 0,    true},
    {"async_deaths_roomy",   36, 8,  200,  32,  256,   true,  0,   false, 600,  0.10, 0.06, true},
};

class JournalReplay : public ::testing::TestWithParam<Scenario> {};

TEST_P(JournalReplay, TheMirrorEqualsTheSchedulersPoolAfterEveryStep) {
  RandomRun run(GetParam());
  BlockPool m = mirror();
  int64_t journals = 0;
  int64_t ops = 0;
  run.on_each_step([&](Scheduler& s) {
    if (!s.block_pool().journaling()) s.start_pool_journal();
    const PoolJournal j = s.take_pool_journal();
    ops += static_cast<int64_t>(j.ops.size());
    ++journals;
    ASSERT_EQ(errors_text(m.replay(j)), "") << "journal " << j.number;
    ASSERT_EQ(m.diff(s.block_pool()), "") << "journal " << j.number;
  });
  run.go();
  EXPECT_EQ(m.audit(), "");
  EXPECT_EQ(m.num_free_blocks(), m.num_blocks());
  EXPECT_GT(ops, journals) << "the workload did little";
  if (GetParam().prefix_caching) {
    EXPECT_GT(m.stats().num_hit_tokens, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, JournalReplay, ::testing::ValuesIn(kJournalScenarios),
                         [](const ::testing::TestParamInfo<Scenario>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace troupe
