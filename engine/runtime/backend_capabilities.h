#pragma once
// What a backend does beyond running steps, which the HTTP layer opens request fields on
// (net::ApiContext: logit_bias and min_tokens, prompt_logprobs). In one process serve asks the
// backend; an executor in another process (`serve --executor HOST:PORT`) answers this value when
// asked (actors/executor_capabilities.h), so a gateway in front of it opens the same fields. The
// defaults are "does not", which is what an executor too old to answer is taken to mean.
#include "engine/runtime/model_backend.h"

namespace troupe {

struct BackendCapabilities {
  bool applies_logit_adjustments = false;  // ModelBackend::applies_logit_adjustments
  bool computes_prompt_logprobs = false;   // ModelBackend::computes_prompt_logprobs

  bool operator==(const BackendCapabilities&) const = default;
};

inline BackendCapabilities capabilities_of(const ModelBackend& backend) {
  return {backend.applies_logit_adjustments(), backend.computes_prompt_logprobs()};
}

}  // namespace troupe
