#include "actors/kv_manager_actor.h"

#include <exception>
#include <string>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/message_inspect.h"

namespace troupe {
namespace {

using Self = caf::stateful_actor<KvManagerState>;

// Every op is checked as it is replayed (reference counts never below zero, no double free, the
// block the owner's policy picks). The full check, BlockPool::audit() (every block in exactly one
// state: free + used == total, counts equal to the tables), is O(blocks) with allocations, 38k
// blocks in bench/scheduler: it runs on every snapshot, not on every step's journal.

// A diverged mirror fails on most ops; the log names the first few of each journal.
constexpr size_t kLoggedPerJournal = 8;

void report(Self* self, const PoolJournal& j, const std::string& what) {
  auto& st = self->state;
  ++st.num_audit_failures;
  st.last_failure = "journal " + std::to_string(j.number) + " (step " + std::to_string(j.step_id) + "): " + what;
  spdlog::error("kv_manager: audit failed: {}", st.last_failure);
}

void apply(Self* self, const PoolJournal& j) {
  auto& st = self->state;
  ++st.num_journals;
  st.num_ops += static_cast<int64_t>(j.ops.size());
  if (!st.mirror) {
    if (!j.fresh_pool) return report(self, j, "arrived before any journal that starts a pool");
    st.mirror.emplace(BlockPoolConfig{1, 1, false});  // replay() gives it the journal's shape
  }
  const auto errors = st.mirror->replay(j);
  for (size_t i = 0; i < errors.size() && i < kLoggedPerJournal; ++i) report(self, j, errors[i].what);
  if (errors.size() > kLoggedPerJournal) {
    st.num_audit_failures += static_cast<int64_t>(errors.size() - kLoggedPerJournal);
    spdlog::error("kv_manager: journal {}: {} more ops refused", j.number, errors.size() - kLoggedPerJournal);
  }
}

KvUsage usage(Self* self) {
  auto& st = self->state;
  KvUsage u;
  u.num_journals = st.num_journals;
  u.num_ops = st.num_ops;
  if (st.mirror) {
    const BlockPool& p = *st.mirror;
    u.num_blocks = p.num_blocks();
    u.num_used_blocks = p.num_referenced_blocks();
    u.num_free_blocks = p.num_free_blocks();
    u.num_cached_blocks = p.num_cached_blocks();
    u.num_prefix_queries = p.stats().num_queries;
    u.num_prefix_query_tokens = p.stats().num_query_tokens;
    u.num_prefix_hit_tokens = p.stats().num_hit_tokens;
    u.pool_audit = p.audit();
  }
  u.num_audit_failures = st.num_audit_failures;
  u.last_failure = st.last_failure;
  return u;
}

}  // namespace

caf::behavior kv_manager_actor(Self* self) {
  return {
      [=](const PoolJournal& j) {
        // It is linked to the supervisor: an exception here would end the whole engine. Replay
        // reports bad ops instead of throwing; what is left (no memory for a hostile pool shape)
        // is an audit failure too.
        try {
          apply(self, j);
        } catch (const std::exception& e) {
          report(self, j, std::string("replay failed: ") + e.what());
        }
      },
      [=](const PrefixQuery& q) -> int32_t {
        const auto& mirror = self->state.mirror;
        return mirror ? mirror->match_prefix(q.token_ids).num_tokens : 0;
      },
      [=](snapshot_atom) { return usage(self); },
  };
}

}  // namespace troupe
