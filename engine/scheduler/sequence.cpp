#include "engine/scheduler/sequence.h"

#include <algorithm>

namespace troupe {

const char* sequence_finish_reason_name(SequenceFinishReason r) {
  switch (r) {
    case SequenceFinishReason::Stop: return "stop";
    case SequenceFinishReason::Length: return "length";
    case SequenceFinishReason::Abort: return "abort";
  }
  return "unknown";
}

Sequence::Sequence(GenerationRequest request, uint64_t arrival_order)
    : id(request.id),
      token_ids(std::move(request.prompt_token_ids)),
      sampling_params(request.sampling_params),
      eos_token_ids(std::move(request.eos_token_ids)),
      priority(request.priority),
      arrival(arrival_order) {
  num_prompt_tokens = static_cast<int32_t>(token_ids.size());
  token_ids.insert(token_ids.end(), request.output_token_ids.begin(), request.output_token_ids.end());
}

std::optional<SequenceFinishReason> output_stop_reason(std::span<const int32_t> output, const SamplingParams& params,
                                                       std::span<const int32_t> eos_token_ids) {
  if (output.empty()) return std::nullopt;
  // min_tokens holds every stop off (vLLM's check_stop); the sampler also masks the stop ids then.
  if (static_cast<int64_t>(output.size()) >= params.min_tokens) {
    const int32_t last = output.back();
    if (!params.ignore_eos && std::find(eos_token_ids.begin(), eos_token_ids.end(), last) != eos_token_ids.end())
      return SequenceFinishReason::Stop;
    if (std::find(params.stop_token_ids.begin(), params.stop_token_ids.end(), last) != params.stop_token_ids.end())
      return SequenceFinishReason::Stop;
  }
  if (static_cast<int64_t>(output.size()) >= params.max_tokens) return SequenceFinishReason::Length;
  return std::nullopt;
}

std::optional<SequenceFinishReason> Sequence::stop_reason() const {
  return output_stop_reason(output_ids(), sampling_params, eos_token_ids);
}

}  // namespace troupe
