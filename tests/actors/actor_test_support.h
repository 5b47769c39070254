#pragma once
// What the actor tests share: the output a request gets from the model alone (the oracle every
// path through the actors must equal).
#include <vector>

#include "engine/model/sequence_generator.h"
#include "engine/scheduler/generation_request.h"

namespace troupe::test {

inline std::vector<int32_t> alone(CpuModel& model, const GenerationRequest& r) {
  return SequenceGenerator(model, {.block_size = 16, .prefill_chunk = 0, .eos_token_ids = r.eos_token_ids})
      .generate(r.prompt_token_ids, r.sampling_params)
      .ids;
}

}  // namespace troupe::test
