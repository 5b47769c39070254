// troupe::wire for an executor's BackendCapabilities (schema: BackendCapabilities in troupe.capnp):
// two flags, whose absence (an older peer's message) decodes to "does not".
#include "wire/troupe.capnp.h"
#include "wire/wire_codec.h"
#include "wire/wire_framing.h"

namespace troupe::wire {
namespace {

namespace s = schema;

void fill(s::BackendCapabilities::Builder b, const BackendCapabilities& x) {
  b.setAppliesLogitAdjustments(x.applies_logit_adjustments);
  b.setComputesPromptLogprobs(x.computes_prompt_logprobs);
}

}  // namespace

std::vector<uint8_t> encode(const BackendCapabilities& x) {
  return framing::encode_message<s::BackendCapabilities>("BackendCapabilities",
                                                         [&](s::BackendCapabilities::Builder b) { fill(b, x); });
}

template <>
BackendCapabilities decode<BackendCapabilities>(std::span<const uint8_t> bytes) {
  return framing::decode_message<s::BackendCapabilities>(bytes, "BackendCapabilities", [](s::BackendCapabilities::Reader r) {
    return BackendCapabilities{r.getAppliesLogitAdjustments(), r.getComputesPromptLogprobs()};
  });
}

std::string to_text(const BackendCapabilities& x) {
  return framing::text_message<s::BackendCapabilities>("BackendCapabilities",
                                                       [&](s::BackendCapabilities::Builder b) { fill(b, x); });
}

}  // namespace troupe::wire
