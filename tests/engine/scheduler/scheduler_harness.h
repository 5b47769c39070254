#pragma once
// Shared by the scheduler unit tests: small requests, configs, and a Harness that runs
// schedule -> fake model -> update one step at a time.
#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <vector>

#include "engine/scheduler/scheduler.h"
#include "tests/engine/scheduler/fake_paged_model.h"

namespace troupe::testing {

inline constexpr int32_t kVocab = 1000;  // no EOS unless a test asks for one

inline std::vector<int32_t> tokens(int32_t first, int32_t n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

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

// Scheduler + fake model, one step at a time.
struct Harness {
  explicit Harness(SchedulerConfig c) : sched(c), model(sched.block_pool(), kVocab) {}
  StepPlan plan;
  std::vector<FinishedSequence> step() {
    plan = sched.schedule();
    const auto sampled = model.run(plan);
    stream(plan, sampled);
    auto done = sched.update(plan, sampled);
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
  // What a caller streams from (plan, sampled) before passing them to update(): each sampled token
  // of a sequence that is still running, checked to be its next output (none skipped or repeated).
  // A stream starts with the tokens its request came with (a resubmission's output_token_ids).
  void stream(const StepPlan& p, const std::vector<int32_t>& sampled) {
    size_t next = 0;
    for (const ScheduledSequence& s : p.sequences) {
      if (!s.wants_logits) continue;
      const int32_t token = sampled.at(next++);
      const Sequence* seq = sched.find(s.seq_id);
      if (seq == nullptr || seq->status != SequenceStatus::Running) continue;  // aborted meanwhile
      auto [it, first] = streamed.try_emplace(s.seq_id);
      if (first) it->second = s.output_token_ids;
      EXPECT_EQ(s.num_output_tokens, static_cast<int32_t>(it->second.size())) << "seq " << s.seq_id;
      it->second.push_back(token);
    }
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
  // Tokens streamed by step() per live sequence; step() checks each finished sequence's stream
  // against its output and drops it. (Not told of aborts: a test that reuses an id after aborting
  // it through step() must erase the entry.)
  std::map<SeqId, std::vector<int32_t>> streamed;
};

}  // namespace troupe::testing
