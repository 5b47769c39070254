#pragma once
// A deterministic stand-in for executor + model, for scheduler tests.
//
// Its "KV" lives in a simulated paged cache: the state written at position p is
// mix(state at p-1, token p, p), read back through the block table, as attention would read real
// KV. So a wrong block table, a shared block overwritten, a bad prefix-cache hit or a position
// that skips a token changes the state, and with it every later token. The next token is a hash
// of the last state, the request's seed and the output index, so the output of a correct run is a
// function of the prompt alone: reference_output() computes it directly.
//
// It also plays the executor's side of the StepPlan protocol: it keeps a per-sequence record
// and block table (SequenceBlockTables: the plan sends only new blocks) from an is_new entry until
// the id is finished or preempted, checks that every entry continues that record, derives each
// token's slot from the kept table as make_forward_batch does, and fills in
// kTokenSampledByExecutor with the token it sampled last for that sequence. die() wipes it all,
// as a restarted executor would find it. That no plan writes into
// a shared or prefix-cached block is checked when the plan is made (expect_private_writes): with
// plans outstanding the pool has moved on by the time the executor runs one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "engine/kv/block_pool.h"
#include "engine/scheduler/sequence_block_tables.h"
#include "engine/scheduler/step_plan.h"

namespace troupe::testing {

inline uint64_t mix64(uint64_t x) {  // SplitMix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline uint64_t kv_state(uint64_t prev, int32_t token, int32_t pos) {
  return mix64(prev ^ mix64((static_cast<uint64_t>(static_cast<uint32_t>(token)) << 32) |
                            static_cast<uint32_t>(pos)));
}
inline constexpr uint64_t kEmptyState = 0x1234;

inline int32_t next_token(uint64_t last_state, uint64_t seed, int32_t output_index, int32_t vocab) {
  return static_cast<int32_t>(mix64(last_state ^ mix64(seed * 1000003 + static_cast<uint64_t>(output_index))) %
                              static_cast<uint64_t>(vocab));
}

// What a sequence generates alone: no batching, no cache, no memory pressure.
inline std::vector<int32_t> reference_output(const std::vector<int32_t>& prompt, const SamplingParams& p,
                                             const std::vector<int32_t>& eos, int32_t vocab) {
  std::vector<int32_t> toks = prompt, out;
  uint64_t state = kEmptyState;
  size_t done = 0;
  while (static_cast<int32_t>(out.size()) < p.max_tokens) {
    for (; done < toks.size(); ++done) state = kv_state(state, toks[done], static_cast<int32_t>(done));
    const int32_t t = next_token(state, p.seed.value_or(0), static_cast<int32_t>(out.size()), vocab);
    out.push_back(t);
    toks.push_back(t);
    if (!p.ignore_eos && std::find(eos.begin(), eos.end(), t) != eos.end()) break;
  }
  return out;
}

// Every slot `plan` writes lies in a block that only its sequence holds and that is not in the
// prefix cache. Call it right after schedule(), while the pool is the one the plan was made from.
inline void expect_private_writes(const BlockPool& pool, const StepPlan& plan) {
  for (const ScheduledSequence& s : plan.sequences) {
    const auto table = pool.block_table(s.seq_id);
    for (int32_t pos = s.num_computed_tokens; pos < s.context_len(); ++pos) {
      const int32_t block = table[static_cast<size_t>(pos / pool.block_size())];
      EXPECT_EQ(pool.ref_count(block), 1) << "seq " << s.seq_id << " writes into a shared block";
      EXPECT_FALSE(pool.is_cached(block)) << "seq " << s.seq_id << " writes into a prefix-cached block";
    }
  }
}

class FakePagedModel {
 public:
  FakePagedModel(const BlockPool& pool, int32_t vocab)
      : pool_(pool), vocab_(vocab),
        slots_(static_cast<size_t>(pool.num_blocks()) * static_cast<size_t>(pool.block_size())) {}

  // Runs a plan; returns one token per wants_logits entry, in plan order.
  std::vector<int32_t> run(const StepPlan& plan) {
    for (SeqId id : plan.finished_seq_ids) records_.erase(id);
    for (SeqId id : plan.preempted_seq_ids) records_.erase(id);
    try {
      tables_.apply(plan);
    } catch (const std::logic_error& e) {
      ADD_FAILURE() << e.what();
      return {};
    }
    std::vector<int32_t> sampled;
    for (const ScheduledSequence& s : plan.sequences) {
      if (s.is_new) {
        Record r;
        r.tokens = s.prompt_token_ids;
        r.tokens.insert(r.tokens.end(), s.output_token_ids.begin(), s.output_token_ids.end());
        r.num_outputs = static_cast<int32_t>(s.output_token_ids.size());
        r.seed = s.sampling_params.seed.value_or(0);
        records_[s.seq_id] = std::move(r);
      }
      auto it = records_.find(s.seq_id);
      if (it == records_.end()) {
        ADD_FAILURE() << "entry for sequence " << s.seq_id << " that the executor has no state for";
        return {};
      }
      Record& r = it->second;
      EXPECT_EQ(s.num_output_tokens, r.num_outputs) << "seq " << s.seq_id;
      for (int32_t i = 0; i < s.num_new_tokens(); ++i) {
        const int32_t pos = s.num_computed_tokens + i;
        EXPECT_LT(pos, static_cast<int32_t>(r.tokens.size()));
        if (pos >= static_cast<int32_t>(r.tokens.size())) return {};
        int32_t token = s.token_ids[static_cast<size_t>(i)];
        if (token == kTokenSampledByExecutor) {  // the last token it sampled for this sequence
          EXPECT_TRUE(s.num_new_tokens() == 1 && !s.is_new && r.num_outputs > 0 &&
                      pos + 1 == static_cast<int32_t>(r.tokens.size()))
              << "seq " << s.seq_id << ": a placeholder that does not name the last sampled token";
          token = r.tokens[static_cast<size_t>(pos)];
        }
        EXPECT_EQ(token, r.tokens[static_cast<size_t>(pos)]) << "seq " << s.seq_id;
        const uint64_t prev = pos == 0 ? kEmptyState : read(s, pos - 1);
        slots_[slot_of(s.seq_id, pos)] = Slot{kv_state(prev, token, pos), pos};
      }
      EXPECT_EQ(s.wants_logits, s.context_len() == static_cast<int32_t>(r.tokens.size()));
      if (s.wants_logits) {
        const int32_t t = next_token(read(s, s.context_len() - 1), r.seed, r.num_outputs, vocab_);
        sampled.push_back(t);
        r.tokens.push_back(t);
        ++r.num_outputs;
      }
    }
    return sampled;
  }

  // The executor dies and a fresh one takes its place: every KV slot is wiped (a later read of one
  // fails the position check) and every per-sequence record is gone.
  void die() {
    std::fill(slots_.begin(), slots_.end(), Slot{});
    records_.clear();
    tables_.clear();
  }

  size_t num_records() const { return records_.size(); }
  const SequenceBlockTables& block_tables() const { return tables_; }

 private:
  struct Slot {
    uint64_t state = 0;
    int32_t pos = -1;
  };
  struct Record {
    std::vector<int32_t> tokens;  // prompt + outputs as the executor knows them
    int32_t num_outputs = 0;
    uint64_t seed = 0;
  };

  // Where position `pos` of a sequence lives, through the table this executor kept for it.
  size_t slot_of(SeqId id, int32_t pos) const {
    const int32_t bs = pool_.block_size();
    const std::vector<int32_t>& table = tables_.table(id);
    return static_cast<size_t>(table.at(static_cast<size_t>(pos / bs)) * bs + pos % bs);
  }

  uint64_t read(const ScheduledSequence& s, int32_t pos) const {
    const Slot& slot = slots_[slot_of(s.seq_id, pos)];
    EXPECT_EQ(slot.pos, pos) << "seq " << s.seq_id << " reads a slot holding another position";
    return slot.state;
  }

  const BlockPool& pool_;
  int32_t vocab_;
  std::vector<Slot> slots_;  // [num_blocks * block_size]
  std::unordered_map<SeqId, Record> records_;
  SequenceBlockTables tables_;  // what the plans' new_block_ids built, as an executor keeps them
};

}  // namespace troupe::testing
