// make_forward_batch: a StepPlan becomes the model's ForwardBatch with the same tokens and logits
// rows, in plan order, and the positions, slots and block tables the scheduler's pool says (the
// plan sends only new blocks: the tables come from the SequenceBlockTables that applied it).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "engine/scheduler/forward_batch_from_plan.h"
#include "engine/scheduler/scheduler.h"

namespace troupe {
namespace {

TEST(ForwardBatchFromPlan, CarriesTokensPositionsSlotsAndLogitsRowsInPlanOrder) {
  SchedulerConfig c;
  c.num_blocks = 16;
  c.block_size = 4;
  c.max_num_batched_tokens = 12;
  c.max_num_seqs = 4;
  Scheduler sched(c);
  auto request = [](SeqId id, int32_t first, int32_t n) {
    GenerationRequest r;
    r.id = id;
    r.prompt_token_ids.resize(static_cast<size_t>(n));
    std::iota(r.prompt_token_ids.begin(), r.prompt_token_ids.end(), first);
    r.sampling_params.max_tokens = 4;
    return r;
  };
  sched.add_request(request(1, 0, 5));
  const StepPlan first = sched.schedule();
  sched.update(first, std::vector<int32_t>{77});  // 1 is decoding now
  sched.add_request(request(2, 100, 30));
  const StepPlan plan = sched.schedule();  // 1's decode, then an 11-token chunk of 2
  ASSERT_EQ(plan.sequences.size(), 2u);

  SequenceBlockTables tables;
  tables.apply(first);
  tables.apply(plan);
  const ForwardBatch batch = make_forward_batch(plan, tables);
  ASSERT_EQ(batch.num_tokens(), plan.num_batched_tokens);
  ASSERT_EQ(batch.sequences.size(), 2u);
  std::vector<int32_t> tokens, positions, slots;
  for (const auto& s : plan.sequences) {
    tokens.insert(tokens.end(), s.token_ids.begin(), s.token_ids.end());
    const auto table = sched.block_pool().block_table(s.seq_id);
    for (int32_t pos = s.num_computed_tokens; pos < s.context_len(); ++pos) {
      positions.push_back(pos);
      slots.push_back(table[static_cast<size_t>(pos / c.block_size)] * c.block_size + pos % c.block_size);
    }
  }
  EXPECT_EQ(batch.token_ids, tokens);
  EXPECT_EQ(batch.positions, positions);
  EXPECT_EQ(batch.slot_mapping, slots);
  EXPECT_EQ(batch.token_ids[0], 77);
  EXPECT_EQ(batch.positions[0], 5);
  for (size_t i = 0; i < 2; ++i) {
    const auto& s = plan.sequences[i];
    EXPECT_EQ(batch.sequences[i].num_tokens, s.num_new_tokens());
    EXPECT_EQ(batch.sequences[i].context_len, s.context_len());
    const auto table = sched.block_pool().block_table(s.seq_id);
    EXPECT_TRUE(std::equal(table.begin(), table.end(), batch.sequences[i].block_table.begin(),
                           batch.sequences[i].block_table.end()));
    EXPECT_EQ(batch.sequences[i].wants_logits, s.wants_logits);
  }
  EXPECT_TRUE(batch.sequences[0].wants_logits);
  EXPECT_FALSE(batch.sequences[1].wants_logits);  // a prefill chunk that is not the last
}

// The plan names a sequence whose table was never sent (a lost plan): no batch, an error.
TEST(ForwardBatchFromPlan, RefusesASequenceWithoutAKeptTable) {
  StepPlan plan;
  ScheduledSequence s;
  s.seq_id = 3;
  s.num_computed_tokens = 4;
  s.token_ids = {9};
  plan.sequences.push_back(s);
  EXPECT_THROW(make_forward_batch(plan, SequenceBlockTables{}), std::logic_error);
}

}  // namespace
}  // namespace troupe
