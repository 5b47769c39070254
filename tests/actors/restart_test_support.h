#pragma once
// What the restart tests share: a batch of random requests over a tiny fixture model, the engine's
// shape, and killing the current executor or scheduler of a supervised engine (each output must
// still equal test::alone's).
#include <random>
#include <vector>

#include <caf/all.hpp>

#include "actors/engine_topology.h"
#include "actors/message_inspect.h"
#include "engine/model/cpu_model.h"
#include "tests/actors/actor_test_support.h"  // alone(): the oracle
#include "engine/scheduler/generation_request.h"
#include "engine/scheduler/scheduler_config.h"

namespace troupe::test {

// Greedy requests with 3-60 prompt tokens and max_tokens 8-30.
inline std::vector<GenerationRequest> make_restart_requests(int n, int64_t vocab, uint32_t seed = 4) {
  std::mt19937 rng(seed);
  std::vector<GenerationRequest> out;
  for (int i = 0; i < n; ++i) {
    GenerationRequest r;
    r.id = static_cast<SeqId>(i);
    for (int t = std::uniform_int_distribution<int>(3, 60)(rng); t > 0; --t)
      r.prompt_token_ids.push_back(std::uniform_int_distribution<int>(3, static_cast<int>(vocab) - 1)(rng));
    r.sampling_params.temperature = 0.0f;
    r.sampling_params.max_tokens = std::uniform_int_distribution<int>(8, 30)(rng);
    out.push_back(r);
  }
  return out;
}

// Small enough that the requests above queue, chunk and preempt.
inline SchedulerConfig restart_engine_config(bool async_scheduling) {
  return {.max_num_seqs = 8, .max_num_batched_tokens = 64, .block_size = 16, .num_blocks = 64,
          .enable_prefix_caching = true, .long_prefill_token_threshold = 0, .async_scheduling = async_scheduling};
}

// Kills the engine's current executor or scheduler (`which`) with exit_reason::kill and returns
// it, unless it is `last_killed` (the supervisor has not replaced it yet: results can arrive
// faster than a test reads them) or there is none (a spent budget): then a null actor.
inline caf::actor kill_current(caf::actor_system& sys, const EngineActors& engine, caf::actor EngineActors::*which,
                               const caf::actor& last_killed) {
  caf::actor victim = current_engine(sys, engine).*which;
  if (!victim || victim == last_killed) return caf::actor{};
  caf::anon_send_exit(victim, caf::exit_reason::kill);
  return victim;
}

}  // namespace troupe::test
