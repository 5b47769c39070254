#include "engine/scheduler/resubmission.h"

#include <utility>

#include "engine/scheduler/sequence.h"  // output_stop_reason: the scheduler's own stop rule

namespace troupe {

GenerationRequest InFlight::resubmission(GenerationRequest request) const {
  request.arrival = arrival;
  request.output_token_ids = output_token_ids;
  return request;
}

std::optional<SequenceFinishReason> InFlight::finished_by_output(const GenerationRequest& request) const {
  return output_stop_reason(output_token_ids, request.sampling_params, request.eos_token_ids);
}

}  // namespace troupe
