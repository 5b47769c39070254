#pragma once
// CAF inspect overloads for the engine's value types and the actors' messages. engine/ knows
// nothing of CAF, so the overloads live here, in namespace troupe where ADL finds them.
// Field order is the wire order: append new fields at the end.
#include <optional>

#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/none.hpp>

#include "actors/messages.h"

namespace troupe {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, SamplingParams& x) {
  // CAF 0.17 has no std::optional support: the seed travels as a flag and a value.
  bool has_seed = x.seed.has_value();
  uint64_t seed = x.seed.value_or(0);
  auto restore_seed = caf::meta::load_callback([&]() -> caf::error {
    x.seed = has_seed ? std::optional<uint64_t>(seed) : std::nullopt;
    return caf::none;
  });
  return f(caf::meta::type_name("SamplingParams"), x.temperature, x.top_k, x.top_p, x.min_p,
           x.repetition_penalty, x.presence_penalty, x.frequency_penalty, has_seed, seed,
           x.max_tokens, x.ignore_eos, restore_seed);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, GenerationRequest& x) {
  bool has_arrival = x.arrival.has_value();
  uint64_t arrival = x.arrival.value_or(0);
  auto restore_arrival = caf::meta::load_callback([&]() -> caf::error {
    x.arrival = has_arrival ? std::optional<uint64_t>(arrival) : std::nullopt;
    return caf::none;
  });
  return f(caf::meta::type_name("GenerationRequest"), x.id, x.prompt_token_ids, x.sampling_params,
           x.eos_token_ids, x.priority, has_arrival, arrival, x.output_token_ids, restore_arrival);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ScheduledSequence& x) {
  return f(caf::meta::type_name("ScheduledSequence"), x.seq_id, x.is_new, x.prompt_token_ids,
           x.output_token_ids, x.num_computed_tokens, x.token_ids, x.positions, x.block_table,
           x.slot_mapping, x.wants_logits, x.num_output_tokens, x.sampling_params);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StepPlan& x) {
  return f(caf::meta::type_name("StepPlan"), x.step_id, x.block_size, x.sequences,
           x.finished_seq_ids, x.preempted_seq_ids, x.num_batched_tokens, x.num_cached_tokens);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, FinishedSequence& x) {
  auto reason = static_cast<int32_t>(x.reason);
  auto restore_reason = caf::meta::load_callback([&]() -> caf::error {
    x.reason = static_cast<SequenceFinishReason>(reason);
    return caf::none;
  });
  return f(caf::meta::type_name("FinishedSequence"), x.id, x.output_token_ids, reason, restore_reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StepResult& x) {
  return f(caf::meta::type_name("StepResult"), x.step_id, x.sampled);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, TokenDeltas& x) {
  return f(caf::meta::type_name("TokenDeltas"), x.seq_ids, x.tokens);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, FinishedBatch& x) {
  return f(caf::meta::type_name("FinishedBatch"), x.sequences);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, KvPoolShape& x) {
  return f(caf::meta::type_name("KvPoolShape"), x.num_blocks, x.block_size);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, SchedulerSnapshot& x) {
  return f(caf::meta::type_name("SchedulerSnapshot"), x.num_running, x.num_waiting, x.num_free_blocks,
           x.num_blocks, x.num_cached_tokens, x.num_preemptions, x.num_steps, x.num_executor_resets);
}

}  // namespace troupe
