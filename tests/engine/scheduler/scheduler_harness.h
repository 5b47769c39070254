#pragma once
// Shared by the scheduler unit tests: small requests, configs, and a Harness that runs
// schedule -> fake model -> update one step at a time.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <vector>

#include "engine/scheduler/scheduler.h"
#include "tests/engine/scheduler/fake_paged_model.h"
#include "tests/engine/token_run.h"

namespace troupe::testing {

inline constexpr int32_t kVocab = 1000;  // no EOS unless a test asks for one

inline SchedulerConfig config(int32_t num_blocks, int32_t budget = 64, int32_t max_seqs = 8) {
  SchedulerConfig c;
  c.num_blocks = num_blocks;
  c.block_size = 16;
  c.max_num_batched_tokens = budget;
  c.max_num_seqs = max_seqs;
  return c;
}

inline GenerationRequest request(SeqId id, std::vector<int32_t> prompt, int32_t max_tokens, int32_t priority = 0) {
  GenerationRequest r;
  r.id = id;
  r.prompt_token_ids = std::move(prompt);
  r.sampling_params.max_tokens = max_tokens;
  r.sampling_params.temperature = 0.0f;
  r.priority = priority;
  return r;
}

// Scheduler + fake model. step() is one lock-step iteration; with async_scheduling a test can
// also plan ahead: schedule() twice, then complete() the plans in order.
struct Harness {
  explicit Harness(SchedulerConfig c) : sched(c), model(sched.block_pool(), kVocab) {}
  StepPlan plan;  // the latest from schedule()
  StepPlan schedule() {
    plan = sched.schedule();
    expect_private_writes(sched.block_pool(), plan);
    // A stream starts with the tokens its request came with (a resubmission's output_token_ids);
    // a sequence resumed after preemption or a reset carries exactly what was streamed.
    for (const ScheduledSequence& s : plan.sequences) {
      if (!s.is_new) continue;
      auto [it, first] = streamed.try_emplace(s.seq_id, s.output_token_ids);
      if (!first) {
        EXPECT_EQ(it->second, s.output_token_ids) << "seq " << s.seq_id << " resumes with other outputs";
      }
    }
    return plan;
  }
  // The executor runs `p` (the oldest plan it has not run) and the scheduler applies the result.
  std::vector<FinishedSequence> complete(const StepPlan& p) { return deliver(p, model.run(p)); }
  std::vector<FinishedSequence> step() { return complete(schedule()); }
  // update(), streaming what it accepts: each accepted token must extend that sequence's known
  // outputs by exactly one (none skipped or repeated), and a finished stream equals its output.
  std::vector<FinishedSequence> deliver(const StepPlan& p, const std::vector<int32_t>& sampled) {
    std::vector<SampledToken> accepted;
    auto done = sched.update(p, sampled, &accepted);
    for (const SampledToken& t : accepted) {
      std::vector<int32_t>& seen = streamed[t.seq_id];
      seen.push_back(t.token);
      // Its outputs once this step is applied: the live sequence's, or what it finished with.
      std::vector<int32_t> out;
      if (const Sequence* seq = sched.find(t.seq_id)) out.assign(seq->output_ids().begin(), seq->output_ids().end());
      for (const FinishedSequence& f : done)
        if (f.id == t.seq_id) out = f.output_token_ids;
      EXPECT_EQ(seen, out) << "seq " << t.seq_id << ": the stream is not its output so far";
    }
    for (const FinishedSequence& f : done) {
      EXPECT_EQ(streamed[f.id], f.output_token_ids) << "seq " << f.id << ": the stream is not its output";
      streamed.erase(f.id);
    }
    finished.insert(finished.end(), done.begin(), done.end());
    return done;
  }
  void run_to_end(int max_steps = 10000) {
    for (int i = 0; i < max_steps && sched.has_unfinished(); ++i) step();
    ASSERT_FALSE(sched.has_unfinished());
  }
  // Aborts through the scheduler; what it reports is exactly what was streamed.
  std::optional<FinishedSequence> abort(SeqId id) {
    auto f = sched.abort(id);
    if (f) {
      EXPECT_EQ(streamed[id], f->output_token_ids) << "seq " << id << ": an aborted stream is its output so far";
    }
    streamed.erase(id);
    return f;
  }
  // The executor dies, maybe with a plan outstanding; a fresh one takes its place.
  void executor_dies() {
    model.die();
    sched.reset_executor_state();
  }
  const FinishedSequence* result(SeqId id) const {
    for (const auto& f : finished)
      if (f.id == id) return &f;
    return nullptr;
  }
  std::vector<SeqId> planned_ids() const {
    std::vector<SeqId> ids;
    for (const auto& s : plan.sequences) ids.push_back(s.seq_id);
    return ids;
  }
  Scheduler sched;
  FakePagedModel model;
  std::vector<FinishedSequence> finished;
  // Tokens streamed per live sequence; deliver() checks each finished sequence's stream against
  // its output and drops it, abort() too. (A test that aborts through sched directly and reuses
  // the id must erase the entry.)
  std::map<SeqId, std::vector<int32_t>> streamed;
};

}  // namespace troupe::testing
