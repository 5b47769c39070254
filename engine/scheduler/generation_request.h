#pragma once
// GenerationRequest: what the gateway submits to the scheduler, already tokenized and validated
// against the model (Scheduler::check_request validates it against the scheduler).
#include <cstdint>
#include <optional>
#include <vector>

#include "engine/kv/seq_id.h"
#include "engine/sampling/sampling_params.h"

namespace troupe {

struct GenerationRequest {
  SeqId id = 0;                            // unique among live sequences
  std::vector<int32_t> prompt_token_ids;   // not empty
  SamplingParams sampling_params;          // max_tokens counts output tokens, these below included
  std::vector<int32_t> eos_token_ids;      // any of them ends the sequence unless ignore_eos
  int32_t priority = 0;                    // lower is served earlier; equal priorities go FCFS
  std::optional<uint64_t> arrival;         // order among equal priorities; unset: after all so far.
                                           // A gateway resubmitting to a restarted scheduler
                                           // passes the original so the order survives.
  std::vector<int32_t> output_token_ids;   // tokens already generated (a resubmission): they are
                                           // recomputed, not regenerated, and generation goes on
};

}  // namespace troupe
