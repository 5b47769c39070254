#pragma once
// InFlight: what a scheduler's client keeps of a request it submitted, beside the request itself,
// so that a scheduler that replaces a dead one can be handed the request again and its client sees
// a pause, never a lost request or a token twice. The gateway (actors/gateway_actor) and the batch
// client (actors/batch_client) both keep one per request until it finishes.
//
// A resubmission carries the request's first arrival (ArrivalCounter), so it keeps its place in
// the queue, and the output tokens received so far: the new scheduler recomputes those instead of
// sampling them and samples the next at its own output index (the seeded RNG's position), as after
// a preemption by recompute — nothing is sent twice, and a seeded request draws what it would have
// drawn without the restart.
#include <cstdint>
#include <optional>
#include <vector>

#include "engine/scheduler/finished_sequence.h"
#include "engine/scheduler/generation_request.h"

namespace troupe {

struct InFlight {
  uint64_t arrival = 0;                   // its place in the scheduler's queue, kept across restarts
  std::vector<int32_t> output_token_ids;  // every token received (ones a stop string holds back too);
                                          // a client that wants whole sequences may record none

  // `request` as the next scheduler is handed it: the first arrival and the tokens so far.
  GenerationRequest resubmission(GenerationRequest request) const;

  // Why the tokens received already end `request`, if they do (an EOS, a stop id, max_tokens): a
  // scheduler may stream a last token and die before it reports the sequence finished. Such a
  // request is finished by its client, not handed over again.
  std::optional<SequenceFinishReason> finished_by_output(const GenerationRequest& request) const;
};

}  // namespace troupe
