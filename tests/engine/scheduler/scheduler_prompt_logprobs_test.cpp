// A request that asks for prompt logprobs (SamplingParams::prompt_logprobs): its plan entries name
// every prompt position to score, chunk by chunk and each once, it takes no prefix-cache hit
// (a request beside it that did not ask does), and a recompute after an executor loss scores the
// prompt again.
#include "tests/engine/scheduler/scheduler_harness.h"

namespace troupe::testing {
namespace {

GenerationRequest scored(SeqId id, std::vector<int32_t> prompt, int32_t max_tokens, int32_t top_n) {
  GenerationRequest r = request(id, std::move(prompt), max_tokens);
  r.sampling_params.prompt_logprobs = top_n;
  return r;
}

// The prompt positions an entry scores: the prompt token after each of its first
// num_prompt_logprobs tokens.
void add_scored_positions(const ScheduledSequence& s, std::vector<int32_t>& out) {
  for (int32_t k = 0; k < s.num_prompt_logprobs; ++k) out.push_back(s.num_computed_tokens + 1 + k);
}

TEST(SchedulerPromptLogprobs, EveryPromptPositionIsScoredOnceChunkByChunk) {
  Harness h(config(/*num_blocks=*/64, /*budget=*/32));
  h.sched.add_request(scored(1, tokens(10, 100), /*max_tokens=*/4, /*top_n=*/2));
  h.sched.add_request(request(2, tokens(300, 40), 4));  // asks for none
  std::vector<int32_t> positions;
  int chunks = 0;
  for (int i = 0; i < 100 && h.sched.has_unfinished(); ++i) {
    const StepPlan p = h.schedule();
    for (const ScheduledSequence& s : p.sequences) {
      EXPECT_LE(s.num_prompt_logprobs, s.num_new_tokens());
      if (s.seq_id == 2) {
        EXPECT_EQ(s.num_prompt_logprobs, 0);
      }
      if (s.seq_id != 1) continue;
      chunks += s.num_prompt_logprobs > 0;
      add_scored_positions(s, positions);
      // The prompt's last token predicts the first output, which is sampled, not scored; decodes
      // score nothing.
      if (s.num_computed_tokens >= 99) {
        EXPECT_EQ(s.num_prompt_logprobs, 0);
      } else if (s.context_len() >= 100) {
        EXPECT_EQ(s.num_computed_tokens + s.num_prompt_logprobs, 99);
      }
    }
    h.complete(p);
  }
  EXPECT_FALSE(h.sched.has_unfinished());
  EXPECT_EQ(positions, tokens(1, 99));
  EXPECT_GE(chunks, 4);  // 100 tokens through a 32-token budget
}

TEST(SchedulerPromptLogprobs, TakesNoPrefixCacheHitThoughOthersDo) {
  Harness h(config(64, 256));
  const std::vector<int32_t> prefix = tokens(500, 64);
  auto with_tail = [&](int32_t first) {
    std::vector<int32_t> p = prefix;
    for (int32_t t : tokens(first, 10)) p.push_back(t);
    return p;
  };
  h.sched.add_request(request(1, with_tail(1), 1));
  h.run_to_end();  // its four full prefix blocks are cached now
  h.sched.add_request(scored(2, with_tail(100), 1, 0));
  h.sched.add_request(request(3, with_tail(200), 1));
  const StepPlan p = h.schedule();
  ASSERT_EQ(p.sequences.size(), 2u);
  for (const ScheduledSequence& s : p.sequences) {
    ASSERT_TRUE(s.is_new);
    if (s.seq_id == 2) {
      EXPECT_EQ(s.num_computed_tokens, 0);  // every prompt position computed
      EXPECT_EQ(s.num_prompt_logprobs, 73);
    } else {
      EXPECT_EQ(s.num_computed_tokens, 64);  // the cached prefix
      EXPECT_EQ(s.num_prompt_logprobs, 0);
    }
  }
  EXPECT_EQ(p.num_cached_tokens, 64);
  h.complete(p);
  h.run_to_end();
}

TEST(SchedulerPromptLogprobs, ARecomputeScoresThePromptAgain) {
  Harness h(config(64, 32));
  h.sched.add_request(scored(1, tokens(10, 50), 4, 1));
  std::vector<int32_t> before, after;
  add_scored_positions(h.schedule().sequences.at(0), before);
  h.complete(h.plan);
  h.executor_dies();  // the KV cache is gone: the prompt is recomputed from position 0
  for (int i = 0; i < 100 && h.sched.has_unfinished(); ++i) {
    const StepPlan p = h.schedule();
    for (const ScheduledSequence& s : p.sequences) add_scored_positions(s, after);
    h.complete(p);
  }
  EXPECT_EQ(before, tokens(1, 32));
  EXPECT_EQ(after, tokens(1, 49));
}

}  // namespace
}  // namespace troupe::testing
