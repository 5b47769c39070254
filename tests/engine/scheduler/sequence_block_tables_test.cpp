// SequenceBlockTables: the executor's side of the plan's block-table diff. An is_new entry starts
// a table, a later entry appends its new blocks, finished and preempted ids drop theirs (before
// the entries: an id may come back new in the same plan), and a plan the holder cannot follow
// (a sequence it was never sent, a table short of the entry's context) is an error, not a guess.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "engine/scheduler/sequence_block_tables.h"

namespace troupe {
namespace {

ScheduledSequence entry(SeqId id, bool is_new, int32_t computed, int32_t n, std::vector<int32_t> new_blocks) {
  ScheduledSequence s;
  s.seq_id = id;
  s.is_new = is_new;
  s.num_computed_tokens = computed;
  s.token_ids.assign(static_cast<size_t>(n), 5);
  s.new_block_ids = std::move(new_blocks);
  return s;
}

StepPlan plan_of(uint64_t step, std::vector<ScheduledSequence> entries) {
  StepPlan p;
  p.step_id = step;
  p.block_size = 4;
  p.sequences = std::move(entries);
  return p;
}

TEST(SequenceBlockTables, AnIsNewEntryStartsATableAndLaterEntriesAppend) {
  SequenceBlockTables t;
  t.apply(plan_of(1, {entry(7, true, 0, 6, {3, 9})}));
  EXPECT_EQ(t.table(7), (std::vector<int32_t>{3, 9}));
  t.apply(plan_of(2, {entry(7, false, 6, 1, {})}));   // position 6 is in block 1 already
  t.apply(plan_of(3, {entry(7, false, 7, 2, {12})}));  // positions 7, 8: a third block
  EXPECT_EQ(t.table(7), (std::vector<int32_t>{3, 9, 12}));
}

TEST(SequenceBlockTables, DropsComeBeforeEntriesSoAReusedIdStartsAfresh) {
  SequenceBlockTables t;
  t.apply(plan_of(1, {entry(7, true, 0, 4, {3}), entry(8, true, 0, 4, {4})}));
  StepPlan p = plan_of(2, {entry(7, true, 0, 2, {11})});
  p.finished_seq_ids = {7};
  p.preempted_seq_ids = {8};
  t.apply(p);
  EXPECT_EQ(t.table(7), std::vector<int32_t>{11});
  EXPECT_FALSE(t.holds(8));
  EXPECT_EQ(t.size(), 1u);
}

TEST(SequenceBlockTables, AnIsNewEntryReplacesWhatWasHeld) {
  SequenceBlockTables t;
  t.apply(plan_of(1, {entry(7, true, 0, 4, {3})}));
  t.apply(plan_of(2, {entry(7, true, 0, 5, {6, 2})}));  // resumed without the drop reaching us
  EXPECT_EQ(t.table(7), (std::vector<int32_t>{6, 2}));
}

TEST(SequenceBlockTables, AContinuationOfASequenceNeverSentIsAnError) {
  SequenceBlockTables fresh;  // a restarted executor
  EXPECT_THROW(fresh.apply(plan_of(5, {entry(7, false, 6, 1, {})})), std::logic_error);
  EXPECT_THROW(fresh.table(7), std::logic_error);
}

TEST(SequenceBlockTables, ATableShortOfTheContextIsAnError) {
  SequenceBlockTables t;
  EXPECT_THROW(t.apply(plan_of(1, {entry(7, true, 0, 5, {3})})), std::logic_error);  // 5 tokens, one 4-token block
  SequenceBlockTables u;
  u.apply(plan_of(1, {entry(7, true, 0, 4, {3})}));
  // A plan that added block 9 was lost on the way: the next one reaches past what is held.
  EXPECT_THROW(u.apply(plan_of(3, {entry(7, false, 5, 1, {})})), std::logic_error);
}

TEST(SequenceBlockTables, ClearForgetsEverything) {
  SequenceBlockTables t;
  t.apply(plan_of(1, {entry(7, true, 0, 4, {3})}));
  t.clear();
  EXPECT_FALSE(t.holds(7));
  EXPECT_THROW(t.apply(plan_of(2, {entry(7, false, 4, 1, {8})})), std::logic_error);
}

}  // namespace
}  // namespace troupe
