#pragma once
// FinishedSequence: what the scheduler reports when a sequence leaves it.
#include <cstdint>
#include <vector>

#include "engine/kv/seq_id.h"

namespace troupe {

// Named apart from the offline generator's FinishReason (engine/model), which has no Abort.
enum class SequenceFinishReason {
  Stop,    // an EOS token was sampled (it is the last output token)
  Length,  // max_tokens output tokens
  Abort,   // Scheduler::abort
};
const char* sequence_finish_reason_name(SequenceFinishReason r);  // "stop", "length", "abort"

struct FinishedSequence {
  SeqId id = 0;
  std::vector<int32_t> output_token_ids;  // every generated token, an EOS that stopped it included
  SequenceFinishReason reason = SequenceFinishReason::Length;
};

}  // namespace troupe
