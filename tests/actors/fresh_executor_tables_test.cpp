// A StepPlan sends each sequence's KV blocks once (its is_new entry) and then only the ones added,
// so an executor that replaces a lost one has none of the tables the old one kept. The scheduler
// actor must start it from whole tables: after a loss (a death, or a supervisor's replacement)
// every entry the new executor gets for a sequence is first an is_new one carrying the whole
// table, and nothing the new executor cannot follow ever reaches it. The stand-in executor keeps
// the tables as a real one does (SequenceBlockTables) and fails a step it cannot follow, as
// StepRunner does; that failure would show here as a logged error.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/actor_system_config.h"
#include "actors/message_inspect.h"
#include "actors/messages.h"
#include "actors/scheduler_actor.h"
#include "engine/scheduler/sequence_block_tables.h"

namespace troupe {
namespace {

constexpr int32_t kBlockSize = 4;  // small blocks: decodes cross block boundaries often

// What one stand-in executor saw, written on its thread and read by the test once it is done.
struct ExecutorLog {
  std::mutex mutex;
  std::vector<StepPlan> plans;
  std::vector<std::string> errors;
  std::vector<caf::response_promise> stalled;  // steps past max_steps, never answered
};

// Answers the first `max_steps` steps (fixed tokens) and then none: the run cannot end without
// a replacement, however fast the answers came.
caf::behavior table_keeping_executor(caf::event_based_actor* self, std::shared_ptr<ExecutorLog> log,
                                     size_t max_steps) {
  auto tables = std::make_shared<SequenceBlockTables>();
  return {
      [=](init_atom, const KvPoolShape&) {
        tables->clear();
        return true;
      },
      [=](step_atom, const StepPlan& plan) -> caf::result<StepResult> {
        std::lock_guard<std::mutex> lock(log->mutex);
        if (log->plans.size() >= max_steps) {
          auto never = self->make_response_promise();
          log->stalled.push_back(never);
          return never;
        }
        log->plans.push_back(plan);
        try {
          tables->apply(plan);
        } catch (const std::logic_error& e) {
          log->errors.push_back(e.what());
          return caf::make_error(caf::sec::runtime_error, e.what());
        }
        return StepResult{plan.step_id, std::vector<int32_t>(static_cast<size_t>(plan.num_logits()), 7), {}, {}};
      },
  };
}

std::vector<GenerationRequest> requests() {
  std::vector<GenerationRequest> out;
  for (int i = 0; i < 6; ++i) {
    GenerationRequest r;
    r.id = static_cast<SeqId>(i + 1);
    for (int t = 0; t < 5 + 3 * i; ++t) r.prompt_token_ids.push_back(100 + 10 * i + t);
    r.sampling_params.temperature = 0.0f;
    r.sampling_params.ignore_eos = true;
    r.sampling_params.max_tokens = 30;
    out.push_back(std::move(r));
  }
  return out;
}

// The first executor stalls after `first_steps` steps and then dies (or, with `replace`, the
// supervisor hands over a new one while the old one still lives); a second one takes over.
void run_and_replace(bool async_scheduling, bool replace, size_t first_steps) {
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  auto first_log = std::make_shared<ExecutorLog>(), second_log = std::make_shared<ExecutorLog>();
  auto first = sys.spawn(table_keeping_executor, first_log, first_steps);
  SchedulerConfig c;
  c.max_num_seqs = 6;
  c.max_num_batched_tokens = 64;
  c.block_size = kBlockSize;
  c.num_blocks = 128;
  c.async_scheduling = async_scheduling;
  auto scheduler = sys.spawn(scheduler_actor, c, first, /*supervised=*/true, nullptr);
  caf::scoped_actor client{sys};
  const auto reqs = requests();
  for (const auto& r : reqs)
    client->request(scheduler, caf::infinite, submit_atom::value, r).receive([](bool) {}, [](caf::error&) { FAIL(); });
  std::map<SeqId, std::vector<int32_t>> streamed;
  std::map<SeqId, FinishedSequence> finished;
  bool handed_over = false;
  auto stalled = [&] {
    std::lock_guard<std::mutex> lock(first_log->mutex);
    return !first_log->stalled.empty();
  };
  auto first_error = [](ExecutorLog& log) {
    std::lock_guard<std::mutex> lock(log.mutex);
    return log.errors.empty() ? std::string() : log.errors.front();
  };
  // Polled: the first executor's last answers may have streamed long before its stall.
  for (int idle_polls = 0; finished.size() < reqs.size();) {
    client->receive(
        [&](const TokenDeltas& d) {
          for (size_t i = 0; i < d.seq_ids.size(); ++i) streamed[d.seq_ids[i]].push_back(d.tokens[i]);
          idle_polls = 0;
        },
        [&](const FinishedBatch& b) {
          for (const auto& f : b.sequences) finished[f.id] = f;
          idle_polls = 0;
        },
        caf::after(std::chrono::milliseconds(20)) >> [&] {
          ASSERT_LT(++idle_polls, 1500) << "no progress for 30 s";
          // A step the executor could not follow ends it, and the run would wait for another.
          for (ExecutorLog* log : {first_log.get(), second_log.get()})
            if (const std::string e = first_error(*log); !e.empty()) FAIL() << e;
          if (handed_over || !stalled()) return;
          handed_over = true;
          if (!replace) caf::anon_send_exit(first, caf::exit_reason::kill);
          caf::anon_send(scheduler, executor_atom::value, sys.spawn(table_keeping_executor, second_log, SIZE_MAX));
        });
    if (::testing::Test::HasFatalFailure()) break;
  }
  caf::anon_send_exit(scheduler, caf::exit_reason::user_shutdown);
  ASSERT_TRUE(handed_over);
  for (const auto& r : reqs) {
    ASSERT_TRUE(finished.count(r.id)) << "request " << r.id;
    EXPECT_NE(finished.at(r.id).reason, SequenceFinishReason::Abort) << "request " << r.id;
    EXPECT_EQ(finished.at(r.id).output_token_ids.size(), 30u) << "request " << r.id;
    EXPECT_EQ(streamed[r.id], finished.at(r.id).output_token_ids) << "request " << r.id;
  }
  std::lock_guard<std::mutex> lock1(first_log->mutex), lock2(second_log->mutex);
  EXPECT_TRUE(first_log->errors.empty()) << first_log->errors.front();
  EXPECT_TRUE(second_log->errors.empty()) << second_log->errors.front();
  // The first executor's later plans were diffs: a decode inside its last block sends no block.
  int diff_entries = 0;
  for (const StepPlan& p : first_log->plans)
    for (const ScheduledSequence& s : p.sequences) diff_entries += !s.is_new && s.new_block_ids.empty();
  EXPECT_GT(diff_entries, 0);
  // The second one met every sequence first as is_new, with a table covering its context.
  std::set<SeqId> met;
  int entries = 0;
  for (const StepPlan& p : second_log->plans) {
    for (const ScheduledSequence& s : p.sequences) {
      ++entries;
      if (met.insert(s.seq_id).second) {
        EXPECT_TRUE(s.is_new) << "step " << p.step_id << " continues seq " << s.seq_id << " on a fresh executor";
        EXPECT_GE(static_cast<int32_t>(s.new_block_ids.size()) * kBlockSize, s.context_len()) << "seq " << s.seq_id;
      }
    }
  }
  EXPECT_GT(entries, 0) << "the second executor ran nothing";
}

TEST(FreshExecutorTables, AnExecutorThatReplacesADeadOneGetsWholeTables) { run_and_replace(true, false, 12); }
TEST(FreshExecutorTables, AnExecutorThatReplacesADeadOneGetsWholeTablesInLockStep) { run_and_replace(false, false, 12); }
TEST(FreshExecutorTables, AnExecutorHandedOverWhileTheOldLivesGetsWholeTables) { run_and_replace(true, true, 12); }

}  // namespace
}  // namespace troupe
