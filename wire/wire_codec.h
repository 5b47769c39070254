#pragma once
// troupe::wire: the engine's cluster values to and from bytes, through the Cap'n Proto schema in
// wire/troupe.capnp (the cluster protocol; see its header for the evolution rules).
//
// encode(x) returns one Cap'n Proto message in the standard flat-array framing (segment table,
// then segments; a multiple of 8 bytes) with the schema struct of the same name as its root.
// decode<T>(bytes) reads such a message from anyone, so it treats the bytes as untrusted: any
// malformed, truncated, oversized or trailing-garbage input, or a value this build cannot
// represent (an enumerant or union member from a newer schema), throws std::invalid_argument
// naming the type and the problem; it never reads out of bounds. The input need not be aligned.
// Decoding checks structure, not meaning: SamplingParams::validate() and the scheduler's checks
// still apply to what comes out.
//
// This library knows nothing of CAF; wire/caf_wire_inspect.h bridges it to CAF's inspectors.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/kv/pool_journal.h"
#include "engine/model/hidden_states.h"
#include "engine/runtime/backend_capabilities.h"
#include "engine/runtime/tensor_parallel_rank.h"
#include "engine/sampling/sampling_params.h"
#include "engine/scheduler/finished_sequence.h"
#include "engine/scheduler/generation_request.h"
#include "engine/scheduler/step_plan.h"
#include "engine/scheduler/step_result.h"

namespace troupe::wire {

// The schema's wireVersion constant (troupe.capnp): a changelog marker, not carried in messages.
uint32_t wire_version();

// Largest message decode accepts. Far above any real StepPlan (a plan of 1024 new sequences with
// 32k-token prompts is about 130 MiB); it bounds what a hostile peer can make us allocate.
inline constexpr size_t kMaxMessageBytes = size_t{1} << 30;  // 1 GiB

std::vector<uint8_t> encode(const SamplingParams& x);
std::vector<uint8_t> encode(const GenerationRequest& x);
std::vector<uint8_t> encode(const ScheduledSequence& x);
std::vector<uint8_t> encode(const StepPlan& x);
std::vector<uint8_t> encode(const StepResult& x);
std::vector<uint8_t> encode(const KvPoolShape& x);
std::vector<uint8_t> encode(const FinishedSequence& x);
std::vector<uint8_t> encode(const PoolJournal& x);
std::vector<uint8_t> encode(const HiddenStates& x);
std::vector<uint8_t> encode(const TpRankOp& x);
std::vector<uint8_t> encode(const BackendCapabilities& x);

// Defined for the eleven types above only (explicit specializations below); any other T fails
// to link.
template <class T>
T decode(std::span<const uint8_t> bytes);

template <> SamplingParams decode<SamplingParams>(std::span<const uint8_t> bytes);
template <> GenerationRequest decode<GenerationRequest>(std::span<const uint8_t> bytes);
template <> ScheduledSequence decode<ScheduledSequence>(std::span<const uint8_t> bytes);
template <> StepPlan decode<StepPlan>(std::span<const uint8_t> bytes);
template <> StepResult decode<StepResult>(std::span<const uint8_t> bytes);
template <> KvPoolShape decode<KvPoolShape>(std::span<const uint8_t> bytes);
template <> FinishedSequence decode<FinishedSequence>(std::span<const uint8_t> bytes);
template <> PoolJournal decode<PoolJournal>(std::span<const uint8_t> bytes);
template <> HiddenStates decode<HiddenStates>(std::span<const uint8_t> bytes);
template <> TpRankOp decode<TpRankOp>(std::span<const uint8_t> bytes);
template <> BackendCapabilities decode<BackendCapabilities>(std::span<const uint8_t> bytes);

inline SamplingParams decode_sampling_params(std::span<const uint8_t> b) { return decode<SamplingParams>(b); }
inline GenerationRequest decode_generation_request(std::span<const uint8_t> b) { return decode<GenerationRequest>(b); }
inline ScheduledSequence decode_scheduled_sequence(std::span<const uint8_t> b) { return decode<ScheduledSequence>(b); }
inline StepPlan decode_step_plan(std::span<const uint8_t> b) { return decode<StepPlan>(b); }
inline StepResult decode_step_result(std::span<const uint8_t> b) { return decode<StepResult>(b); }
inline KvPoolShape decode_kv_pool_shape(std::span<const uint8_t> b) { return decode<KvPoolShape>(b); }
inline FinishedSequence decode_finished_sequence(std::span<const uint8_t> b) { return decode<FinishedSequence>(b); }
inline PoolJournal decode_pool_journal(std::span<const uint8_t> b) { return decode<PoolJournal>(b); }
inline HiddenStates decode_hidden_states(std::span<const uint8_t> b) { return decode<HiddenStates>(b); }

// Cap'n Proto's text form of x's wire message, e.g. "(stepId = 9, blockSize = 16, sequences = [...])":
// field names as in the schema, empty lists left out. For logs and caf::deep_to_string; not a wire
// format.
std::string to_text(const SamplingParams& x);
std::string to_text(const GenerationRequest& x);
std::string to_text(const ScheduledSequence& x);
std::string to_text(const StepPlan& x);
std::string to_text(const StepResult& x);
std::string to_text(const KvPoolShape& x);
std::string to_text(const FinishedSequence& x);
std::string to_text(const PoolJournal& x);
std::string to_text(const HiddenStates& x);
std::string to_text(const TpRankOp& x);
std::string to_text(const BackendCapabilities& x);

}  // namespace troupe::wire
