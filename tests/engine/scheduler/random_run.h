#pragma once
// RandomRun: one randomized scheduler scenario driven to the end (see scheduler_random_test.cpp
// for the invariants). It plays both sides: the scheduler actor (plans as far ahead as the
// scheduler allows, streams what update() accepts) and the executor (a mailbox of plans run in
// order, answers delivered in order), with arrivals, aborts and executor deaths in between.
// Plans send only new KV blocks: the executor (FakePagedModel) rebuilds each table from them, and
// check_plan rebuilds them too as each plan is made, checking them against the pool's own tables.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <functional>
#include <ostream>
#include <random>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/scheduler/scheduler.h"
#include "engine/scheduler/sequence_block_tables.h"
#include "tests/engine/scheduler/fake_paged_model.h"

namespace troupe::testing {

inline constexpr int32_t kRandomVocab = 64;
inline const std::vector<int32_t> kEos = {0, 1};  // about one output token in 32 ends a sequence

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
  bool async = false; // two plans in flight (SchedulerConfig::async_scheduling), else lock step
  int32_t pipeline_stages = 1;  // > 1 (with async): that many plans in flight, disjoint batches
};

inline void PrintTo(const Scenario& sc, std::ostream* os) { *os << sc.name; }  // gtest names failures by it

struct Expected {
  std::vector<int32_t> prompt;
  std::vector<int32_t> output;  // reference_output
  SamplingParams params;
};

// Random request whose prompt often starts with one of a few shared prefixes.
inline GenerationRequest random_request(std::mt19937_64& rng, SeqId id, const std::vector<std::vector<int32_t>>& families,
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
  explicit RandomRun(const Scenario& sc) : sc_(sc), rng_(sc.seed), sched_(make_config(sc)), model_(sched_.block_pool(), kRandomVocab) {
    for (int f = 0; f < 4; ++f) {
      std::vector<int32_t> prefix(rng_() % 40);
      for (auto& t : prefix) t = static_cast<int32_t>(rng_() % 1000);
      families_.push_back(prefix);
    }
  }

  // Called with the scheduler before each round of arrivals and once at the end, when nothing is in
  // flight (the pool journal tests take and replay the scheduler's journal there).
  void on_each_step(std::function<void(Scheduler&)> f) { on_step_ = std::move(f); }

  void go() {
    const int32_t max_len = sc_.num_blocks * sc_.block_size;  // tokens the whole pool holds
    SeqId next_id = 1;
    int added = 0;
    for (int step = 0; added < sc_.num_requests || sched_.has_unfinished() || !mailbox_.empty() || !answers_.empty();
         ++step) {
      ASSERT_LT(step, 200000) << "no progress";
      if (on_step_) on_step_(sched_);
      if (::testing::Test::HasFatalFailure()) return;
      const int arrivals = added < sc_.num_requests ? static_cast<int>(rng_() % 4) : 0;
      for (int i = 0; i < arrivals && added < sc_.num_requests; ++i, ++added) {
        GenerationRequest r = random_request(rng_, next_id++, families_, sc_.priorities, std::min(max_len, 90));
        ASSERT_EQ(sched_.check_request(r), "");
        expected_[r.id] = {r.prompt_token_ids, reference_output(r.prompt_token_ids, r.sampling_params, kEos, kRandomVocab),
                           r.sampling_params};
        sched_.add_request(std::move(r));
      }
      maybe_abort(sc_.abort_rate);
      plan_ahead();
      if (::testing::Test::HasFatalFailure()) return;
      if (dies()) {  // before the executor ran what waits in its mailbox
        executor_dies();
        if (::testing::Test::HasFatalFailure()) return;
        continue;
      }
      execute();
      if (::testing::Test::HasFailure()) return;
      maybe_abort(sc_.abort_rate / 2);  // arrives while the executor runs the step
      if (dies()) {  // it ran them, but its answers never arrive
        executor_dies();
        if (::testing::Test::HasFatalFailure()) return;
        continue;
      }
      deliver();
      if (::testing::Test::HasFatalFailure()) return;
      ASSERT_EQ(sched_.block_pool().audit(), "") << sc_.name << " step " << step;
    }
    if (on_step_) on_step_(sched_);
    EXPECT_TRUE(expected_.empty());
    EXPECT_TRUE(streamed_.empty());
    EXPECT_EQ(finished_ + aborted_, sc_.num_requests);
    EXPECT_EQ(sched_.num_outstanding_plans(), 0);
    const BlockPool& pool = sched_.block_pool();
    EXPECT_EQ(pool.num_free_blocks(), pool.num_blocks()) << "leaked blocks";
    EXPECT_EQ(pool.num_referenced_blocks(), 0);
    model_.run(sched_.schedule());  // delivers the last finished ids
    EXPECT_EQ(model_.num_records(), 0u) << "the executor was not told to drop some sequences";
    std::printf("[ %s ] %d finished, %d aborted, %lld steps, %lld preemptions (%d with a token pending), "
                "%lld cached tokens, %d placeholders, %d voided tokens, %lld executor deaths (%d with tokens "
                "lost in flight), %lld of %lld block ids sent (the rest kept by the executor)\n",
                sc_.name, finished_, aborted_, static_cast<long long>(sched_.stats().num_steps),
                static_cast<long long>(sched_.stats().num_preemptions), preempted_with_pending_,
                static_cast<long long>(sched_.stats().num_cached_tokens), placeholders_, voided_tokens_,
                static_cast<long long>(sched_.stats().num_executor_resets), deaths_with_lost_tokens_,
                static_cast<long long>(block_ids_sent_), static_cast<long long>(block_ids_in_tables_));
  }

  const SchedulerStats& stats() const { return sched_.stats(); }
  int resumed_with_outputs() const { return resumed_with_outputs_; }
  int deaths_with_lost_tokens() const { return deaths_with_lost_tokens_; }
  int placeholders() const { return placeholders_; }
  int plans_filling_pipeline() const { return plans_filling_pipeline_; }
  int voided_tokens() const { return voided_tokens_; }
  int preempted_with_pending() const { return preempted_with_pending_; }

 private:
  static SchedulerConfig make_config(const Scenario& sc) {
    SchedulerConfig c;
    c.block_size = sc.block_size;
    c.num_blocks = sc.num_blocks;
    c.max_num_seqs = sc.max_num_seqs;
    c.max_num_batched_tokens = sc.max_num_batched_tokens;
    c.enable_prefix_caching = sc.prefix_caching;
    c.long_prefill_token_threshold = sc.long_prefill_token_threshold;
    c.async_scheduling = sc.async;
    c.pipeline_stages = sc.pipeline_stages;
    return c;
  }

  bool dies() {
    if (sc_.death_rate <= 0) return false;  // draws nothing: the other scenarios keep their streams
    return std::uniform_real_distribution<double>(0, 1)(rng_) < sc_.death_rate / 2;
  }

  // As the scheduler actor does: plan as far ahead as the scheduler allows; every plan goes to
  // the executor's mailbox, an empty one only when it carries finished ids.
  void plan_ahead() {
    while (sched_.num_outstanding_plans() < sched_.max_outstanding_plans()) {
      std::vector<SeqId> ready_decodes;
      const bool pipeline = sc_.pipeline_stages > 1;
      for (const auto& [id, e] : expected_) {
        const Sequence* s = sched_.find(id);
        if (s->status == SequenceStatus::Running && s->num_uncomputed_tokens() == 1 && !s->all_outputs_planned() &&
            !(pipeline && s->num_pending_outputs > 0))
          ready_decodes.push_back(id);
      }
      const int32_t cap = sched_.max_sequences_per_plan();
      const int32_t outstanding_before = sched_.num_outstanding_plans();
      StepPlan plan = sched_.schedule();
      check_plan(plan, ready_decodes, cap);
      if (!plan.empty() && outstanding_before + 1 == sched_.max_outstanding_plans() && outstanding_before > 0)
        ++plans_filling_pipeline_;
      if (::testing::Test::HasFatalFailure()) return;
      if (plan.empty()) {
        if (!plan.finished_seq_ids.empty()) mailbox_.push_back(std::move(plan));
        break;
      }
      mailbox_.push_back(std::move(plan));
    }
  }

  // The executor runs the oldest plan in its mailbox; planning ahead, sometimes the next one too
  // before the scheduler hears of the first.
  void execute() {
    int runs = sc_.async && rng_() % 2 ? 2 : 1;
    // A pipeline may finish up to all its plans before the scheduler hears of the first.
    if (sc_.pipeline_stages > 1) runs = 1 + static_cast<int>(rng_() % static_cast<uint64_t>(sched_.max_outstanding_plans()));
    for (; runs > 0 && !mailbox_.empty(); --runs) {
      std::vector<int32_t> sampled = model_.run(mailbox_.front());
      answers_.push_back({std::move(mailbox_.front()), std::move(sampled)});
      mailbox_.pop_front();
    }
  }

  // The scheduler applies the oldest answer and streams what it accepts.
  void deliver() {
    if (answers_.empty()) return;
    const auto [plan, sampled] = std::move(answers_.front());
    answers_.pop_front();
    std::vector<SampledToken> accepted;
    const std::vector<FinishedSequence> done = sched_.update(plan, sampled, &accepted);
    voided_tokens_ += static_cast<int>(sampled.size() - accepted.size());
    stream(accepted, done);
    if (::testing::Test::HasFatalFailure()) return;
    for (const FinishedSequence& f : done) {
      const Expected& e = expected_.at(f.id);
      ASSERT_EQ(f.output_token_ids, e.output) << sc_.name << " seq " << f.id;
      ASSERT_EQ(streamed_[f.id], f.output_token_ids) << sc_.name << " seq " << f.id << ": stream != output";
      const bool eos_last = std::find(kEos.begin(), kEos.end(), f.output_token_ids.back()) != kEos.end();
      EXPECT_EQ(f.reason, !e.params.ignore_eos && eos_last ? SequenceFinishReason::Stop : SequenceFinishReason::Length);
      expected_.erase(f.id);
      streamed_.erase(f.id);
      ++finished_;
    }
  }

  // The executor died with everything in its mailbox and every undelivered answer; a fresh one
  // with an empty KV cache takes its place.
  void executor_dies() {
    for (const auto& [id, e] : expected_) {
      const Sequence* s = sched_.find(id);
      if (s->status == SequenceStatus::Running && s->num_output_tokens() > 0) ++resumed_with_outputs_;
    }
    for (const auto& [plan, sampled] : answers_)
      if (!sampled.empty()) {
        ++deaths_with_lost_tokens_;
        break;
      }
    model_.die();
    kept_tables_.clear();  // the new executor holds none: the next plans must send whole tables
    sched_.reset_executor_state();
    for (const StepPlan& plan : mailbox_) {
      if (plan.empty()) continue;
      ASSERT_THROW(sched_.update(plan, {}), std::logic_error) << "a lost plan was still expected";
    }
    for (const auto& [plan, sampled] : answers_) {
      if (plan.empty()) continue;
      ASSERT_THROW(sched_.update(plan, sampled), std::logic_error) << "a lost plan was still expected";
    }
    mailbox_.clear();
    answers_.clear();
    const BlockPool& pool = sched_.block_pool();
    ASSERT_EQ(sched_.num_running(), 0);
    ASSERT_EQ(sched_.num_waiting(), static_cast<int32_t>(expected_.size()));
    ASSERT_EQ(pool.num_referenced_blocks(), 0);
    ASSERT_EQ(pool.num_cached_blocks(), 0);
    ASSERT_EQ(pool.audit(), "") << sc_.name << " after a reset";
    for (const auto& [id, e] : expected_) {
      const Sequence* s = sched_.find(id);
      ASSERT_EQ(s->num_computed_tokens, 0);
      ASSERT_EQ(s->num_pending_outputs, 0);
      // Generated tokens survive, and they are exactly what the caller has streamed.
      const auto out = s->output_ids();
      const auto it = streamed_.find(id);
      const std::vector<int32_t> seen = it == streamed_.end() ? std::vector<int32_t>{} : it->second;
      ASSERT_TRUE(std::equal(out.begin(), out.end(), seen.begin(), seen.end())) << sc_.name << " seq " << id;
    }
    fresh_executor_ = true;
  }

  // What a caller streams: each token update() accepted belongs to a sequence that has not left
  // and extends its stream to exactly its known outputs (none skipped, none repeated).
  void stream(const std::vector<SampledToken>& accepted, const std::vector<FinishedSequence>& done) {
    for (const SampledToken& t : accepted) {
      ASSERT_TRUE(expected_.count(t.seq_id)) << sc_.name << ": a token for " << t.seq_id << ", which left";
      std::vector<int32_t>& seen = streamed_[t.seq_id];
      seen.push_back(t.token);
      std::vector<int32_t> out;
      if (const Sequence* s = sched_.find(t.seq_id)) out.assign(s->output_ids().begin(), s->output_ids().end());
      for (const FinishedSequence& f : done)
        if (f.id == t.seq_id) out = f.output_token_ids;
      ASSERT_EQ(seen, out) << sc_.name << " seq " << t.seq_id;
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

  // The tokens the plans sent and not yet answered sample: with a pipeline, none of their
  // sequences may be planned again (stage 0 could not embed what they sample).
  std::unordered_set<SeqId> sampled_in_flight() const {
    std::unordered_set<SeqId> out;
    auto add = [&](const StepPlan& p) {
      for (const ScheduledSequence& e : p.sequences)
        if (e.wants_logits) out.insert(e.seq_id);
    };
    for (const StepPlan& p : mailbox_) add(p);
    for (const auto& [p, sampled] : answers_) add(p);
    return out;
  }

  void check_plan(const StepPlan& plan, const std::vector<SeqId>& ready_decodes, int32_t cap) {
    const BlockPool& pool = sched_.block_pool();
    ASSERT_LE(plan.num_batched_tokens, sc_.max_num_batched_tokens);
    ASSERT_LE(static_cast<int32_t>(plan.sequences.size()), sc_.max_num_seqs);
    ASSERT_LE(static_cast<int32_t>(plan.sequences.size()), cap);
    if (sc_.pipeline_stages > 1) {
      const auto busy = sampled_in_flight();
      for (const ScheduledSequence& s : plan.sequences)
        ASSERT_FALSE(busy.count(s.seq_id)) << sc_.name << ": seq " << s.seq_id << " planned with its token in flight";
    }
    ASSERT_LE(sched_.num_running(), sc_.max_num_seqs);
    int32_t total = 0;
    std::unordered_set<SeqId> ids;
    testing::expect_private_writes(pool, plan);
    try {
      kept_tables_.apply(plan);  // as the executor will, in the order the plans are made
    } catch (const std::logic_error& e) {
      FAIL() << sc_.name << ": " << e.what();
    }
    for (SeqId v : plan.preempted_seq_ids) preempted_with_pending_ += sched_.find(v)->num_pending_outputs > 0;
    for (const ScheduledSequence& s : plan.sequences) {
      ASSERT_TRUE(ids.insert(s.seq_id).second) << "a sequence twice in one plan";
      if (std::find(s.token_ids.begin(), s.token_ids.end(), kTokenSampledByExecutor) != s.token_ids.end()) {
        ASSERT_TRUE(sc_.async) << "a placeholder in lock step";
        ASSERT_EQ(sc_.pipeline_stages, 1) << "a placeholder reaching a pipeline";
        ASSERT_TRUE(s.num_new_tokens() == 1 && !s.is_new && s.wants_logits) << "seq " << s.seq_id;
        ++placeholders_;
      }
      ASSERT_GE(s.num_new_tokens(), 1);
      total += s.num_new_tokens();
      // The table the diffs rebuilt is the pool's, block for block: what plans used to send whole.
      const auto table = pool.block_table(s.seq_id);
      const std::vector<int32_t>& kept = kept_tables_.table(s.seq_id);
      ASSERT_TRUE(std::equal(kept.begin(), kept.end(), table.begin(), table.end()))
          << sc_.name << " seq " << s.seq_id << ": the kept table differs from the scheduler's";
      if (s.is_new) {
        ASSERT_EQ(s.new_block_ids.size(), table.size()) << "an is_new entry without its whole table";
      }
      block_ids_sent_ += static_cast<int64_t>(s.new_block_ids.size());
      block_ids_in_tables_ += static_cast<int64_t>(table.size());
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
      if (!preempted.count(id) && static_cast<int32_t>(plan.sequences.size()) < cap) {
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
  std::function<void(Scheduler&)> on_step_;
  std::mt19937_64 rng_;
  Scheduler sched_;
  FakePagedModel model_;
  std::vector<std::vector<int32_t>> families_;
  std::unordered_map<SeqId, Expected> expected_;
  std::unordered_map<SeqId, std::vector<int32_t>> streamed_;  // what the caller has seen
  std::deque<StepPlan> mailbox_;                              // sent, not run yet
  std::deque<std::pair<StepPlan, std::vector<int32_t>>> answers_;  // run, not delivered yet
  bool fresh_executor_ = false;    // reset since the last non-empty plan
  int resumed_with_outputs_ = 0;   // running sequences with outputs when the executor died
  int deaths_with_lost_tokens_ = 0;
  int placeholders_ = 0;           // decode entries naming the token the executor sampled last
  int plans_filling_pipeline_ = 0; // non-empty plans that made the most plans in flight there may be
  int voided_tokens_ = 0;          // sampled for sequences that had left when the answer came
  int preempted_with_pending_ = 0; // preempted while a plan sampling for them was outstanding
  int finished_ = 0;
  int aborted_ = 0;
  int64_t plans_checked_ = 0;
  SequenceBlockTables kept_tables_;  // every plan's diff applied as it is made
  int64_t block_ids_sent_ = 0;       // new_block_ids over all entries
  int64_t block_ids_in_tables_ = 0;  // what whole tables would have sent
};

}  // namespace troupe::testing
