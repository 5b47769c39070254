#pragma once
// Scheduler: continuous batching by iteration. Pure policy: no threads, no I/O, no clock; every
// decision is a function of the calls made so far, so a test can replay any interleaving.
//
// One step is schedule() -> the executors run the plan -> update(plan, sampled tokens).
// schedule() serves, within max_num_batched_tokens and max_num_seqs:
//   1. running sequences with one token left (decodes), oldest / highest priority first;
//   2. running sequences mid-prefill, in the same order, each a chunk of what the budget leaves;
//   3. waiting sequences, in (priority, arrival) order, each with its prefix-cache hit (none for
//      a request that asked for prompt logprobs: it must compute every prompt position) and a
//      chunk, until one does not fit (no skipping ahead: the head of the queue is never starved).
// Since max_num_batched_tokens >= max_num_seqs, step 1 always fits: decodes are never starved
// by prefills. When a running sequence cannot get a block, the newest running sequence (largest
// (priority, arrival)) is preempted by recompute: its blocks are freed (full ones stay in the
// prefix cache), num_computed_tokens goes to 0, and it rejoins the waiting queue with prompt +
// the tokens generated so far. With equal priorities it sorts ahead of every other waiting
// sequence, i.e. it goes back to the front. A step that preempts admits nothing new.
// Preemption never changes a sequence's output: generated tokens are kept and recomputed, and
// sampling sees the same tokens and the same output index (ScheduledSequence::num_output_tokens).
// reset_executor_state() applies the same recompute to everything at once when the executor that
// held the KV cache died: every running sequence, the prefix cache and every outstanding plan.
//
// Planning ahead (config.async_scheduling, the default), as vLLM v1's async scheduling: while
// plan N is outstanding schedule() may make plan N+1, so the executor finds N+1 queued behind N
// and never waits for the scheduler; at most two plans are outstanding. schedule() advances its
// sequences at once, as if every entry that wants logits produced its token: that token is
// pending (Sequence::num_pending_outputs) until update() brings it, and a decode that must
// compute it says kTokenSampledByExecutor (the executor puts in what it sampled last for that
// sequence). Hence:
//  - results come back in plan order: update() takes the oldest outstanding plan;
//  - a sequence that finishes in N (EOS, max_tokens) or is aborted has its work in N+1 voided:
//    its blocks are freed at once (N+1 still writes into them, but a later owner writes in a
//    later plan, and no block N+1 writes is in the prefix cache), update(N+1) drops its token,
//    and its id reaches the executor in the next plan's finished_seq_ids as usual;
//  - a sequence whose pending token is its last one (max_tokens) is not planned again; an EOS
//    cannot be foreseen, so one step of work for it is voided;
//  - a sequence preempted while a plan computing it is outstanding keeps the token that plan
//    samples (update() appends it), and is readmitted only once no output is pending;
//  - blocks enter the prefix cache in update(), once their KV is known to be written.
// Off, schedule() throws while a plan is outstanding: schedule and update in lock step, as
// LocalEngine runs. Both modes share every rule above; lock step just never has a pending token
// when it plans.
//
// Pipeline parallel (config.pipeline_stages = P > 1): the executor is P stages that each run
// every plan in turn, so P plans in flight keep every stage busy on a different one. Planning
// ahead then allows P outstanding plans (max_outstanding_plans(); 2 when P = 2, as without a
// pipeline), and the batches are disjoint, as vLLM v1 runs pipelines:
//  - no placeholders: a sequence whose pending token has not come back is not planned (stage 0
//    embeds the tokens and never sees what the last stage samples). A prefill's next chunk may
//    follow its previous one at once: every stage runs plans in order, so each stage has written
//    the previous chunk's K/V of its layers before it computes the next;
//  - each plan takes at most ceil(L / P) sequences, L = min(max_num_seqs, running + waiting),
//    so the sequences spread over the P plans instead of all riding in the first while the
//    others find nothing to do. A ready decode left out of a plan at that cap goes in the next.
// With P = 1 none of this applies and every rule above is as it was.
#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/kv/block_pool.h"
#include "engine/scheduler/arrival_counter.h"
#include "engine/scheduler/finished_sequence.h"
#include "engine/scheduler/generation_request.h"
#include "engine/scheduler/scheduler_config.h"
#include "engine/scheduler/sequence.h"
#include "engine/scheduler/step_plan.h"

namespace troupe {

struct SchedulerStats {
  int64_t num_steps = 0;            // non-empty plans
  int64_t num_preemptions = 0;
  int64_t num_cached_tokens = 0;    // prefix-cache hit tokens over all admissions
  int64_t num_finished = 0;         // stop or length
  int64_t num_aborted = 0;
  int64_t num_executor_resets = 0;  // reset_executor_state() calls; the sequences they send back
                                    // to waiting are not counted in num_preemptions
};

// A sampled token that update() accepted as a sequence's next output: what a caller streams.
struct SampledToken {
  SeqId seq_id = 0;
  int32_t token = 0;
};

class Scheduler {
 public:
  explicit Scheduler(SchedulerConfig config);  // throws std::invalid_argument on a bad config

  // Empty when `request` can be added, else why not: duplicate id, empty prompt, invalid
  // sampling params, already finished, or longer than the whole pool could ever hold.
  std::string check_request(const GenerationRequest& request) const;
  // Queues a request; throws std::invalid_argument with check_request's message if it fails.
  void add_request(GenerationRequest request);

  // The next step. Throws std::logic_error when max_outstanding_plans() non-empty plans have not
  // been passed to update() yet. An empty plan is never outstanding and needs no update().
  StepPlan schedule();

  // Applies a step's results: `plan` is the oldest outstanding plan (else std::logic_error) and
  // `sampled` holds one token per entry with wants_logits, in plan order. Registers newly full
  // blocks in the prefix cache, appends the sampled tokens, and returns the sequences that
  // stopped (EOS) or reached max_tokens; their blocks are freed. Entries of sequences that left
  // since schedule() (finished in an earlier step, aborted) are voided. Each accepted token is
  // appended to *new_tokens, in plan order: exactly what a caller should stream. (In lock step,
  // with no abort between schedule() and update(), that is every sampled token.)
  std::vector<FinishedSequence> update(const StepPlan& plan, std::span<const int32_t> sampled,
                                       std::vector<SampledToken>* new_tokens = nullptr);
  // The same for the non-empty plan with this step_id: the scheduler keeps what it planned, so a
  // caller may hand the plan itself away.
  std::vector<FinishedSequence> update(uint64_t step_id, std::span<const int32_t> sampled,
                                       std::vector<SampledToken>* new_tokens = nullptr);

  // Removes a sequence wherever it is and frees its blocks; its id goes into the next plan's
  // finished_seq_ids. Returns it with reason Abort and the tokens generated so far, or nothing if
  // the id is unknown (already finished or never added).
  std::optional<FinishedSequence> abort(SeqId id);

  // The executor lost its KV cache (it died and was restarted). Every running sequence is
  // preempted by recompute exactly as under memory pressure (blocks freed, num_computed_tokens = 0,
  // generated tokens kept, back to the waiting queue in its original (priority, arrival) order),
  // the prefix cache is emptied (its blocks' contents are gone too), and every plan handed out but
  // not yet passed to update() is discarded: their sampled tokens will never arrive and must not be
  // expected (pending outputs are forgotten); passing one to update() later throws
  // std::logic_error. The next plan starts from
  // scratch for the new executor: every entry is is_new, and its finished_seq_ids and
  // preempted_seq_ids list nothing from before the reset (the new executor holds no state).
  // Waiting sequences and requests keep their places; no token already returned by update() is
  // lost or produced again, since each resumes at its next output index.
  void reset_executor_state();

  bool has_unfinished() const { return !sequences_.empty(); }
  int32_t num_waiting() const { return static_cast<int32_t>(waiting_.size()); }
  int32_t num_running() const { return static_cast<int32_t>(running_.size()); }
  const Sequence* find(SeqId id) const;
  const SchedulerConfig& config() const { return config_; }
  const BlockPool& block_pool() const { return pool_; }
  // The pool's journal (BlockPool::start_journal, take_journal), for the kv_manager's mirror.
  void start_pool_journal() { pool_.start_journal(); }
  PoolJournal take_pool_journal() { return pool_.take_journal(); }
  const SchedulerStats& stats() const { return stats_; }
  int32_t num_outstanding_plans() const { return static_cast<int32_t>(outstanding_.size()); }
  int32_t max_outstanding_plans() const {
    return config_.async_scheduling ? std::max<int32_t>(2, config_.pipeline_stages) : 1;
  }
  // Sequences one plan may take: the share of one of the plans in flight with a pipeline, else no
  // limit beyond max_num_seqs.
  int32_t max_sequences_per_plan() const;

 private:
  struct Pick {
    Sequence* seq;
    int32_t num_new_tokens;
  };
  struct StepDraft;  // the plan being built: picks, budget, preemptions
  // What update() needs of a handed-out entry; the run tells a voided entry from a live one.
  struct PlannedEntry {
    SeqId seq_id;
    uint64_t run;
    int32_t context_len;  // its tokens [0, context_len) have KV once the plan ran
    bool wants_logits;
  };
  struct OutstandingPlan {
    uint64_t step_id = 0;
    int32_t num_logits = 0;
    std::vector<PlannedEntry> entries;
  };

  void schedule_running(StepDraft& draft, bool decodes);
  void admit_waiting(StepDraft& draft);
  bool grow_or_preempt(StepDraft& draft, Sequence& seq, int32_t num_new_tokens);
  void preempt(StepDraft& draft, Sequence& seq);
  void requeue(Sequence& seq);  // a running sequence back to waiting, blocks freed, to recompute
  int32_t chunk_size(int32_t uncomputed, int32_t budget) const;  // tokens for one sequence
  ScheduledSequence make_entry(Sequence& seq, int32_t num_new_tokens);
  void retire(Sequence& seq);  // leaves both queues, frees blocks, is forgotten

  SchedulerConfig config_;
  BlockPool pool_;
  std::unordered_map<SeqId, Sequence> sequences_;  // every live sequence
  std::set<QueueKey> waiting_;                     // begin() is admitted next
  std::set<QueueKey> running_;                     // rbegin() is preempted first
  std::vector<SeqId> finished_since_plan_;
  ArrivalCounter arrivals_;
  uint64_t next_step_id_ = 1;
  uint64_t next_run_ = 1;
  std::deque<OutstandingPlan> outstanding_;        // non-empty plans awaiting update(), oldest first
  SchedulerStats stats_;
};

}  // namespace troupe
