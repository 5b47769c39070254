#pragma once
// CAF inspect overloads for every message payload. The engine values that cross node boundaries
// (StepPlan, StepResult, KvPoolShape, GenerationRequest, FinishedSequence, PoolJournal, ...) are
// serialized through the Cap'n Proto wire schema (wire/troupe.capnp) by
// wire/caf_wire_inspect.h, so the cluster protocol is written down once. The actor-level structs below still use CAF's
// field-by-field format; field order is the wire order, append new fields at the end.
#include <caf/meta/type_name.hpp>

#include "actors/messages.h"
#include "wire/caf_wire_inspect.h"

namespace troupe {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, TokenLogprob& x) {
  return f(caf::meta::type_name("TokenLogprob"), x.token, x.logprob);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, SampleLogprobs& x) {
  return f(caf::meta::type_name("SampleLogprobs"), x.logprob, x.top);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PromptTokenLogprobs& x) {
  return f(caf::meta::type_name("PromptTokenLogprobs"), x.token, x.logprob, x.rank, x.top);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PromptLogprobs& x) {
  return f(caf::meta::type_name("PromptLogprobs"), x.first_position, x.tokens);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, TokenDeltas& x) {
  return f(caf::meta::type_name("TokenDeltas"), x.seq_ids, x.tokens, x.logprobs, x.prompt_seq_ids, x.prompt_logprobs);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, FinishedBatch& x) {
  return f(caf::meta::type_name("FinishedBatch"), x.sequences);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, SchedulerSnapshot& x) {
  return f(caf::meta::type_name("SchedulerSnapshot"), x.num_running, x.num_waiting, x.num_free_blocks,
           x.num_blocks, x.num_cached_tokens, x.num_preemptions, x.num_steps, x.num_executor_resets,
           x.plans_in_flight, x.num_cached_blocks);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PrefixQuery& x) {
  return f(caf::meta::type_name("PrefixQuery"), x.token_ids);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ReplicaCacheQuery& x) {
  return f(caf::meta::type_name("ReplicaCacheQuery"), x.token_ids);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ReplicaCacheReport& x) {
  return f(caf::meta::type_name("ReplicaCacheReport"), x.cached_tokens, x.free_blocks);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, KvUsage& x) {
  return f(caf::meta::type_name("KvUsage"), x.num_blocks, x.num_used_blocks, x.num_free_blocks, x.num_cached_blocks,
           x.num_prefix_queries, x.num_prefix_query_tokens, x.num_prefix_hit_tokens, x.num_journals, x.num_ops,
           x.num_audit_failures, x.last_failure, x.pool_audit);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ClusterIdentity& x) {
  return f(caf::meta::type_name("ClusterIdentity"), x.config_hash, x.model_hash, x.wire_version);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StageTimes& x) {
  return f(caf::meta::type_name("StageTimes"), x.stage, x.steps, x.busy_us);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NodeReport& x) {
  return f(caf::meta::type_name("NodeReport"), x.name, x.stages);
}

}  // namespace troupe
