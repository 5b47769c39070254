#pragma once
// Asking an executor what its backend can do (engine/runtime/backend_capabilities.h), for an
// executor in another process, whose backend this one cannot see: `serve --executor HOST:PORT`
// opens logit_bias, min_tokens and prompt_logprobs by its answer, and the remote supervisor holds
// an executor that comes back after a loss to the answer the first one gave.
#include <chrono>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "engine/runtime/backend_capabilities.h"

namespace troupe {

// Long enough for a loaded node on a slow link, short enough that a start is not held up: the
// question is one message each way, answered between steps.
inline constexpr std::chrono::seconds kCapabilitiesWithin{10};

// The executor's answer, or the error it gave: an executor built before the question existed
// answers unexpected_message, one that is gone or silent a timeout. Blocks the calling thread.
caf::expected<BackendCapabilities> ask_capabilities(caf::actor_system& sys, const caf::actor& executor,
                                                    std::chrono::milliseconds within = kCapabilitiesWithin);

// The capabilities `had` names that `now` lacks, e.g. "prompt_logprobs"; empty when none.
std::string capabilities_lost(const BackendCapabilities& had, const BackendCapabilities& now);

}  // namespace troupe
