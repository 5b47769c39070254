#pragma once
// kv_manager: a mirror of the scheduler's block pool, built only from the PoolJournal the
// scheduler sends after each step (fire-and-forget: no step ever waits for it). It checks every
// op as it replays it (no double free, no reference count below zero, no block the owner's policy
// would not have picked, no lost journal) and answers from the mirror what others want to know
// about the KV cache without asking the scheduler: how much of a token list is cached (for a
// cache-aware router) and how the pool is used. With data-parallel replicas it keeps one mirror
// per replica's scheduler, each fed by that replica's journals only. The scheduler's pool decides; the mirror follows
// it one step behind and is exact whenever the scheduler is idle.
//
// Spawn it detached. Its replay allocates (every newly cached block), and on a CAF worker that
// the scheduler actor also runs on, that cost the scheduler's process 22 % more CPU time per step
// in bench/scheduler (2 cores: the workers' malloc arenas contend, ~2.5 more context switches a
// step); on its own thread, 5 %. See docs/benchmarks.md.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include "engine/kv/block_pool.h"

namespace troupe {

// One scheduler's pool as the kv_manager follows it (one per data-parallel replica).
struct PoolMirror {
  std::optional<BlockPool> pool;    // made by the first journal that starts a pool
  int64_t num_journals = 0;
  int64_t num_ops = 0;
  int64_t num_audit_failures = 0;   // ops and journals the audit refused
  std::string last_failure;         // the latest, naming the journal, the step and the op
};

struct KvManagerState {
  std::vector<PoolMirror> replicas;  // [replica]: grows as replicas' journals come
  static inline const char* name = "kv_manager";
};

// Messages: (replica_atom, int32_t replica, PoolJournal), no answer: that replica's scheduler's
// journal (a bare PoolJournal is replica 0's); (PrefixQuery) -> int32_t, the tokens of its list an
// admission on replica 0 would find cached now (whole blocks, never the last token:
// BlockPool::match_prefix); (ReplicaCacheQuery) -> ReplicaCacheReport, the same for every replica
// at once plus each one's free blocks (the data-parallel router's one question per request);
// (snapshot_atom) -> KvUsage of replica 0, (snapshot_atom, replica_atom, int32_t) of that replica,
// which also runs the mirror's full invariant check.
// An audit failure is logged as an error naming the replica, the op and the step, and counted in KvUsage.
caf::behavior kv_manager_actor(caf::stateful_actor<KvManagerState>* self);

}  // namespace troupe
