// Randomized invariants: thousands of requests with random arrivals, prompt lengths (many sharing
// prefixes), max_tokens, priorities, aborts and (in some scenarios) executor deaths, under tight
// memory, through the scheduler and the fake paged model. Every plan keeps the budget and the cap,
// serves every ready decode, preempts only the newest; the pool never leaks; every finished output
// equals what the request produces alone; and the tokens a caller streams from (plan, sampled)
// concatenate to exactly that output, across preemptions and executor restarts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/scheduler/scheduler.h"
#include "tests/engine/scheduler/fake_paged_model.h"

namespace troupe {
namespace {

using testing::FakePagedModel;
using testing::reference_output;

constexpr int32_t kVocab = 64;
const std::vector<int32_t> kEos = {0, 1};  // about one output token in 32 ends a sequence

struct Scenario {
  const char* name;
  uint64_t seed;
  int32_t block_size;
  int32_t num_blocks;
  int32_t max_num_seqs;
  int32_t max_num_batched_tokens;
  bool prefix_caching;
  int32_t long_prefill_token_threshold;
  bool priorities;
  int32_t num_requests;
  double abort_rate;  // per step
  double death_rate;  // per step: the executor dies (before running the plan or before answering)
};

struct Expected {
  std::vector<int32_t> prompt;
  std::vector<int32_t> output;  // reference_output
  SamplingParams params;
};

// Random request whose prompt often starts with one of a few shared prefixes.
GenerationRequest random_request(std::mt19937_64& rng, SeqId id, const std::vector<std::vector<int32_t>>& families,
                                 bool priorities, int32_t max_len) {
  GenerationRequest r;
  r.id = id;
  if (rng() % 10 < 6) r.prompt_token_ids = families[rng() % families.size()];
  const int32_t tail = 1 + static_cast<int32_t>(rng() % 30);
  for (int32_t i = 0; i < tail; ++i) r.prompt_token_ids.push_back(static_cast<int32_t>(rng() % 1000));
  r.sampling_params.max_tokens = 1 + static_cast<int32_t>(rng() % 30);
  r.sampling_params.max_tokens =
      std::min(r.sampling_params.max_tokens, max_len + 1 - static_cast<int32_t>(r.prompt_token_ids.size()));
  r.sampling_params.ignore_eos = rng() % 5 == 0;
  r.sampling_params.seed = rng() % 1000;
  r.eos_token_ids = kEos;
  if (priorities) r.priority = static_cast<int32_t>(rng() % 3);
  return r;
}

class RandomRun {
 public:
  explicit RandomRun(const Scenario& sc) : sc_(sc), rng_(sc.seed), sched_(make_config(sc)), model_(sched_.block_pool(), kVocab) {
    for (int f = 0; f < 4; ++f) {
      std::vector<int32_t> prefix(rng_() % 40);
      for (auto& t : prefix) t = static_cast<int32_t>(rng_() % 1000);
      families_.push_back(prefix);
    }
  }

  void go() {
    const int32_t max_len = sc_.num_blocks * sc_.block_size;  // tokens the whole pool holds
    SeqId next_id = 1;
    int added = 0;
    for (int step = 0; added < sc_.num_requests || sched_.has_unfinished(); ++step) {
      ASSERT_LT(step, 200000) << "no progress";
      const int arrivals = added < sc_.num_requests ? static_cast<int>(rng_() % 4) : 0;
      for (int i = 0; i < arrivals && added < sc_.num_requests; ++i, ++added) {
        GenerationRequest r = random_request(rng_, next_id++, families_, sc_.priorities, std::min(max_len, 90));
        ASSERT_EQ(sched_.check_request(r), "");
        expected_[r.id] = {r.prompt_token_ids, reference_output(r.prompt_token_ids, r.sampling_params, kEos, kVocab),
                           r.sampling_params};
        sched_.add_request(std::move(r));
      }
      maybe_abort(sc_.abort_rate);

      std::vector<SeqId> ready_decodes;
      for (const auto& [id, e] : expected_) {
        const Sequence* s = sched_.find(id);
        if (s && s->status == SequenceStatus::Running && s->num_uncomputed_tokens() == 1) ready_decodes.push_back(id);
      }
      const StepPlan plan = sched_.schedule();
      check_plan(plan, ready_decodes);
      if (::testing::Test::HasFatalFailure()) return;
      if (dies()) {  // before the plan ran
        executor_dies(plan, {});
        if (::testing::Test::HasFatalFailure()) return;
        continue;
      }
      const std::vector<int32_t> sampled = model_.run(plan);
      if (::testing::Test::HasFailure()) return;
      maybe_abort(sc_.abort_rate / 2);  // arrives while the executor runs the step
      if (dies()) {  // it ran the plan, but its answer never arrives
        executor_dies(plan, sampled);
        if (::testing::Test::HasFatalFailure()) return;
        continue;
      }

      stream(plan, sampled);
      if (::testing::Test::HasFatalFailure()) return;
      for (const FinishedSequence& f : sched_.update(plan, sampled)) {
        const Expected& e = expected_.at(f.id);
        ASSERT_EQ(f.output_token_ids, e.output) << sc_.name << " seq " << f.id;
        ASSERT_EQ(streamed_[f.id], f.output_token_ids) << sc_.name << " seq " << f.id << ": stream != output";
        const bool eos_last = std::find(kEos.begin(), kEos.end(), f.output_token_ids.back()) != kEos.end();
        EXPECT_EQ(f.reason, !e.params.ignore_eos && eos_last ? SequenceFinishReason::Stop : SequenceFinishReason::Length);
        expected_.erase(f.id);
        streamed_.erase(f.id);
        ++finished_;
      }
      ASSERT_EQ(sched_.block_pool().audit(), "") << sc_.name << " step " << step;
    }
    EXPECT_TRUE(expected_.empty());
    EXPECT_TRUE(streamed_.empty());
    EXPECT_EQ(finished_ + aborted_, sc_.num_requests);
    const BlockPool& pool = sched_.block_pool();
    EXPECT_EQ(pool.num_free_blocks(), pool.num_blocks()) << "leaked blocks";
    EXPECT_EQ(pool.num_referenced_blocks(), 0);
    model_.run(sched_.schedule());  // delivers the last finished ids
    EXPECT_EQ(model_.num_records(), 0u) << "the executor was not told to drop some sequences";
    std::printf("[ %s ] %d finished, %d aborted, %lld steps, %lld preemptions, %lld cached tokens, "
                "%lld executor deaths (%d with tokens lost in flight)\n",
                sc_.name, finished_, aborted_, static_cast<long long>(sched_.stats().num_steps),
                static_cast<long long>(sched_.stats().num_preemptions),
                static_cast<long long>(sched_.stats().num_cached_tokens),
                static_cast<long long>(sched_.stats().num_executor_resets), deaths_with_lost_tokens_);
  }

  const SchedulerStats& stats() const { return sched_.stats(); }
  int resumed_with_outputs() const { return resumed_with_outputs_; }
  int deaths_with_lost_tokens() const { return deaths_with_lost_tokens_; }

 private:
  static SchedulerConfig make_config(const Scenario& sc) {
    SchedulerConfig c;
    c.block_size = sc.block_size;
    c.num_blocks = sc.num_blocks;
    c.max_num_seqs = sc.max_num_seqs;
    c.max_num_batched_tokens = sc.max_num_batched_tokens;
    c.enable_prefix_caching = sc.prefix_caching;
    c.long_prefill_token_threshold = sc.long_prefill_token_threshold;
    return c;
  }

  bool dies() {
    if (sc_.death_rate <= 0) return false;  // draws nothing: the other scenarios keep their streams
    return std::uniform_real_distribution<double>(0, 1)(rng_) < sc_.death_rate / 2;
  }

  // The executor died with `plan` outstanding (`sampled` is what it computed, if it got that far);
  // a fresh one with an empty KV cache takes its place.
  void executor_dies(const StepPlan& plan, const std::vector<int32_t>& sampled) {
    for (const auto& [id, e] : expected_) {
      const Sequence* s = sched_.find(id);
      if (s->status == SequenceStatus::Running && s->num_output_tokens() > 0) ++resumed_with_outputs_;
    }
    if (!sampled.empty()) ++deaths_with_lost_tokens_;
    model_.die();
    sched_.reset_executor_state();
    if (!plan.empty()) {
      ASSERT_THROW(sched_.update(plan, sampled), std::logic_error) << "the lost plan was still expected";
    }
    const BlockPool& pool = sched_.block_pool();
    ASSERT_EQ(sched_.num_running(), 0);
    ASSERT_EQ(sched_.num_waiting(), static_cast<int32_t>(expected_.size()));
    ASSERT_EQ(pool.num_referenced_blocks(), 0);
    ASSERT_EQ(pool.num_cached_blocks(), 0);
    ASSERT_EQ(pool.audit(), "") << sc_.name << " after a reset";
    for (const auto& [id, e] : expected_) {
      const Sequence* s = sched_.find(id);
      ASSERT_EQ(s->num_computed_tokens, 0);
      // Generated tokens survive, and they are exactly what the caller has streamed.
      const auto out = s->output_ids();
      const auto it = streamed_.find(id);
      const std::vector<int32_t> seen = it == streamed_.end() ? std::vector<int32_t>{} : it->second;
      ASSERT_TRUE(std::equal(out.begin(), out.end(), seen.begin(), seen.end())) << sc_.name << " seq " << id;
    }
    fresh_executor_ = true;
  }

  // What a caller streams from (plan, sampled) before update(): each sampled token of a sequence
  // it has not aborted must be that sequence's next output, none skipped, none repeated.
  void stream(const StepPlan& plan, const std::vector<int32_t>& sampled) {
    size_t next = 0;
    for (const ScheduledSequence& s : plan.sequences) {
      if (!s.wants_logits) continue;
      const int32_t token = sampled[next++];
      if (!expected_.count(s.seq_id)) continue;  // aborted since schedule()
      std::vector<int32_t>& seen = streamed_[s.seq_id];
      ASSERT_EQ(s.num_output_tokens, static_cast<int32_t>(seen.size())) << sc_.name << " seq " << s.seq_id;
      seen.push_back(token);
    }
  }

  void maybe_abort(double rate) {
    if (expected_.empty() || std::uniform_real_distribution<double>(0, 1)(rng_) >= rate) return;
    auto it = expected_.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(rng_() % expected_.size()));
    const auto f = sched_.abort(it->first);
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->reason, SequenceFinishReason::Abort);
    // What it had generated is a prefix of what it would have generated.
    ASSERT_LE(f->output_token_ids.size(), it->second.output.size());
    EXPECT_TRUE(std::equal(f->output_token_ids.begin(), f->output_token_ids.end(), it->second.output.begin()));
    EXPECT_FALSE(sched_.block_pool().holds_blocks(it->first));
    EXPECT_EQ(f->output_token_ids, streamed_[it->first]) << "an aborted stream is its output so far";
    streamed_.erase(it->first);
    expected_.erase(it);
    ++aborted_;
  }

  void check_plan(const StepPlan& plan, const std::vector<SeqId>& ready_decodes) {
    const BlockPool& pool = sched_.block_pool();
    ASSERT_LE(plan.num_batched_tokens, sc_.max_num_batched_tokens);
    ASSERT_LE(static_cast<int32_t>(plan.sequences.size()), sc_.max_num_seqs);
    ASSERT_LE(sched_.num_running(), sc_.max_num_seqs);
    int32_t total = 0;
    std::unordered_set<SeqId> ids;
    for (const ScheduledSequence& s : plan.sequences) {
      ASSERT_TRUE(ids.insert(s.seq_id).second) << "a sequence twice in one plan";
      ASSERT_GE(s.num_new_tokens(), 1);
      total += s.num_new_tokens();
      const auto table = pool.block_table(s.seq_id);
      ASSERT_TRUE(std::equal(s.block_table.begin(), s.block_table.end(), table.begin(), table.end()));
      ASSERT_GE(static_cast<int32_t>(table.size()) * sc_.block_size, s.context_len());
      if (sc_.long_prefill_token_threshold > 0) {
        ASSERT_LE(s.num_new_tokens(), sc_.long_prefill_token_threshold);
      }
      if (!plan.preempted_seq_ids.empty()) {
        ASSERT_FALSE(s.is_new) << "a step that preempts admitted " << s.seq_id;
      }
    }
    ASSERT_EQ(total, plan.num_batched_tokens);
    if (fresh_executor_ && !plan.empty()) {  // the first plan for a restarted executor
      ASSERT_TRUE(plan.preempted_seq_ids.empty());
      for (const ScheduledSequence& s : plan.sequences) {
        ASSERT_TRUE(s.is_new) << sc_.name << " seq " << s.seq_id << " is not new to the restarted executor";
        ASSERT_EQ(s.num_computed_tokens, 0) << "a hit in a cache that died with the executor";
        const Sequence* seq = sched_.find(s.seq_id);
        const auto out = seq->output_ids();
        ASSERT_TRUE(std::equal(out.begin(), out.end(), s.output_token_ids.begin(), s.output_token_ids.end()));
      }
      fresh_executor_ = false;
    }
    const std::set<SeqId> preempted(plan.preempted_seq_ids.begin(), plan.preempted_seq_ids.end());
    for (SeqId id : ready_decodes) {
      if (!preempted.count(id)) {
        ASSERT_TRUE(ids.count(id)) << "ready decode " << id << " was not served";
      }
    }
    // Victims are the newest: every sequence that kept its place sorts before every victim.
    for (SeqId v : plan.preempted_seq_ids) {
      for (const ScheduledSequence& s : plan.sequences) {
        ASSERT_LT(sched_.find(s.seq_id)->queue_key(), sched_.find(v)->queue_key());
      }
    }
    ++plans_checked_;
  }

  Scenario sc_;
  std::mt19937_64 rng_;
  Scheduler sched_;
  FakePagedModel model_;
  std::vector<std::vector<int32_t>> families_;
  std::unordered_map<SeqId, Expected> expected_;
  std::unordered_map<SeqId, std::vector<int32_t>> streamed_;  // what the caller has seen
  bool fresh_executor_ = false;    // reset since the last non-empty plan
  int resumed_with_outputs_ = 0;   // running sequences with outputs when the executor died
  int deaths_with_lost_tokens_ = 0;
  int finished_ = 0;
  int aborted_ = 0;
  int64_t plans_checked_ = 0;
};

const Scenario kScenarios[] = {
    // name                 seed bs blocks seqs budget cache thr   prio  reqs   abort death
    {"tight_cached",          1, 4,   24,   8,   32,   true,  0,   false, 2000, 0.02, 0},
    {"tight_uncached",        2, 4,   24,   8,   32,   false, 0,   false, 2000, 0.02, 0},
    {"tight_priorities",      3, 4,   26,   6,   24,   true,  0,   true, 2000, 0.02, 0},
    {"threshold_chunks",      4, 4,   30,  16,   48,   true,  8,   false, 2000, 0.02, 0},
    {"one_seq_at_a_time",     5, 4,   24,   1,    8,   true,  0,   false, 1000, 0.02, 0},
    {"big_blocks",            6, 16,   8,   8,   64,   true,  0,   true, 2000, 0.02, 0},
    {"roomy_many_aborts",     7, 8,  200,  32,  256,   true,  0,   false, 2000, 0.20, 0},
    {"budget_equals_cap",     8, 4,   40,  12,   12,   true,  0,   true, 2000, 0.05, 0},
    {"deaths_tight_cached",   9, 4,   24,   8,   32,   true,  0,   false, 2000, 0.02, 0.03},
    {"deaths_chunks_prio",   10, 4,   30,  12,   24,   true,  8,   true, 2000, 0.05, 0.05},
    {"deaths_roomy",         11, 8,  200,  32,  256,   true,  0,   false, 2000, 0.10, 0.06},
};

class SchedulerRandom : public ::testing::TestWithParam<Scenario> {};

TEST_P(SchedulerRandom, EverythingFinishesNothingLeaksOutputsMatchRunningAlone) {
  RandomRun run(GetParam());
  run.go();
}

INSTANTIATE_TEST_SUITE_P(Scenarios, SchedulerRandom, ::testing::ValuesIn(kScenarios),
                         [](const ::testing::TestParamInfo<Scenario>& info) { return std::string(info.param.name); });

// Tight memory must actually preempt and prefixes must actually hit, or the test above proves
// little.
TEST(SchedulerRandomCoverage, TightMemoryPreemptsAndSharedPrefixesHit) {
  RandomRun run(kScenarios[0]);
  run.go();
  EXPECT_GT(run.stats().num_preemptions, 50);
  EXPECT_GT(run.stats().num_cached_tokens, 1000);
}

// Deaths must strike sequences mid-generation, with the executor's answer in flight too, and the
// cache must be refilled and hit between deaths.
TEST(SchedulerRandomCoverage, ExecutorDeathsLoseGeneratedTokensInFlightAndTheCacheRefills) {
  RandomRun run(kScenarios[8]);
  run.go();
  EXPECT_GT(run.stats().num_executor_resets, 100);
  EXPECT_GT(run.deaths_with_lost_tokens(), 50);
  EXPECT_GT(run.resumed_with_outputs(), 200);
  EXPECT_GT(run.stats().num_preemptions, 50);
  EXPECT_GT(run.stats().num_cached_tokens, 1000);
}

// The oracle above is the fake model's closed form; check that it is what a request produces
// through the scheduler alone, with all the memory it could want.
TEST(SchedulerRandomOracle, ReferenceOutputIsWhatARequestProducesAlone) {
  std::mt19937_64 rng(99);
  std::vector<std::vector<int32_t>> families = {{}};
  for (int i = 0; i < 50; ++i) {
    SchedulerConfig c;
    c.block_size = 4;
    c.num_blocks = 1000;
    c.max_num_batched_tokens = 1000;
    c.enable_prefix_caching = false;
    Scheduler sched(c);
    FakePagedModel model(sched.block_pool(), kVocab);
    GenerationRequest r = random_request(rng, 1, families, false, 90);
    const auto expected = reference_output(r.prompt_token_ids, r.sampling_params, kEos, kVocab);
    sched.add_request(r);
    std::vector<FinishedSequence> done;
    while (done.empty()) {
      const StepPlan plan = sched.schedule();
      ASSERT_FALSE(plan.empty());
      done = sched.update(plan, model.run(plan));
    }
    EXPECT_EQ(done[0].output_token_ids, expected);
  }
}

}  // namespace
}  // namespace troupe
