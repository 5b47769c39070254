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

void report(PoolMirror& m, int32_t replica, const PoolJournal& j, const std::string& what) {
  ++m.num_audit_failures;
  m.last_failure = "journal " + std::to_string(j.number) + " (step " + std::to_string(j.step_id) + "): " + what;
  spdlog::error("kv_manager: replica {}: audit failed: {}", replica, m.last_failure);
}

// A replica index no scheduler can have: journals carrying one are refused, not grown into.
constexpr int32_t kMaxReplicas = 1024;

PoolMirror* mirror_of(Self* self, int32_t replica) {
  auto& r = self->state.replicas;
  if (replica < 0 || replica >= kMaxReplicas) return nullptr;
  if (static_cast<size_t>(replica) >= r.size()) r.resize(static_cast<size_t>(replica) + 1);
  return &r[static_cast<size_t>(replica)];
}

void apply(PoolMirror& m, int32_t replica, const PoolJournal& j) {
  ++m.num_journals;
  m.num_ops += static_cast<int64_t>(j.ops.size());
  if (!m.pool) {
    if (!j.fresh_pool) return report(m, replica, j, "arrived before any journal that starts a pool");
    m.pool.emplace(BlockPoolConfig{1, 1, false});  // replay() gives it the journal's shape
  }
  const auto errors = m.pool->replay(j);
  for (size_t i = 0; i < errors.size() && i < kLoggedPerJournal; ++i) report(m, replica, j, errors[i].what);
  if (errors.size() > kLoggedPerJournal) {
    m.num_audit_failures += static_cast<int64_t>(errors.size() - kLoggedPerJournal);
    spdlog::error("kv_manager: replica {}: journal {}: {} more ops refused", replica, j.number,
                  errors.size() - kLoggedPerJournal);
  }
}

void on_journal(Self* self, int32_t replica, const PoolJournal& j) {
  PoolMirror* m = mirror_of(self, replica);
  if (m == nullptr) return spdlog::error("kv_manager: a journal for replica {} refused (no such replica)", replica);
  // It is linked to the supervisor: an exception here would end the whole engine. Replay reports
  // bad ops instead of throwing; what is left (no memory for a hostile pool shape) is an audit
  // failure too.
  try {
    apply(*m, replica, j);
  } catch (const std::exception& e) {
    report(*m, replica, j, std::string("replay failed: ") + e.what());
  }
}

KvUsage usage(const PoolMirror& m) {
  KvUsage u;
  u.num_journals = m.num_journals;
  u.num_ops = m.num_ops;
  if (m.pool) {
    const BlockPool& p = *m.pool;
    u.num_blocks = p.num_blocks();
    u.num_used_blocks = p.num_referenced_blocks();
    u.num_free_blocks = p.num_free_blocks();
    u.num_cached_blocks = p.num_cached_blocks();
    u.num_prefix_queries = p.stats().num_queries;
    u.num_prefix_query_tokens = p.stats().num_query_tokens;
    u.num_prefix_hit_tokens = p.stats().num_hit_tokens;
    u.pool_audit = p.audit();
  }
  u.num_audit_failures = m.num_audit_failures;
  u.last_failure = m.last_failure;
  return u;
}

int32_t cached_tokens(const PoolMirror* m, const std::vector<int32_t>& tokens) {
  return m && m->pool ? m->pool->match_prefix(tokens).num_tokens : 0;
}

}  // namespace

caf::behavior kv_manager_actor(Self* self) {
  return {
      [=](replica_atom, int32_t replica, const PoolJournal& j) { on_journal(self, replica, j); },
      [=](const PoolJournal& j) { on_journal(self, 0, j); },
      [=](const PrefixQuery& q) { return cached_tokens(mirror_of(self, 0), q.token_ids); },
      [=](const ReplicaCacheQuery& q) {
        // match_prefix on every mirror: hashing the query's blocks is most of it, once per replica.
        ReplicaCacheReport r;
        for (const PoolMirror& m : self->state.replicas) {
          r.cached_tokens.push_back(cached_tokens(&m, q.token_ids));
          r.free_blocks.push_back(m.pool ? m.pool->num_free_blocks() : -1);
        }
        return r;
      },
      [=](snapshot_atom) { return usage(*mirror_of(self, 0)); },
      [=](snapshot_atom, replica_atom, int32_t replica) {
        const PoolMirror* m = mirror_of(self, replica);
        return m ? usage(*m) : KvUsage{};
      },
  };
}

}  // namespace troupe
