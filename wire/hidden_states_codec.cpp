// troupe::wire for a pipeline stage's HiddenStates (schema: HiddenStates in troupe.capnp). Decoding
// checks that the values are exactly numTokens x hiddenSize; the receiving stage checks that they
// are the step and layer it expects (take_stage_input).
#include <cstdint>
#include <stdexcept>
#include <string>

#include "wire/troupe.capnp.h"
#include "wire/wire_codec.h"
#include "wire/wire_framing.h"

namespace troupe::wire {
namespace {

namespace s = schema;

void fill(s::HiddenStates::Builder b, const HiddenStates& x) {
  b.setStepId(x.step_id);
  b.setNextLayer(x.next_layer);
  b.setNumTokens(x.num_tokens);
  b.setHiddenSize(x.hidden_size);
  TROUPE_WIRE_SET_LIST(b, Values, x.values);
}

HiddenStates get(s::HiddenStates::Reader r) {
  HiddenStates x;
  x.step_id = r.getStepId();
  x.next_layer = r.getNextLayer();
  x.num_tokens = r.getNumTokens();
  x.hidden_size = r.getHiddenSize();
  if (x.num_tokens < 0 || x.hidden_size < 0 || x.next_layer < 0)
    throw std::invalid_argument("negative numTokens, hiddenSize or nextLayer");
  const auto values = r.getValues();
  // An empty list stands for a step with no tokens (an empty plan passed down the pipeline).
  const int64_t want = int64_t{x.num_tokens} * x.hidden_size;
  if (values.size() != 0 && static_cast<int64_t>(values.size()) != want)
    throw std::invalid_argument("values: " + std::to_string(values.size()) + " for " + std::to_string(x.num_tokens) +
                                " tokens of width " + std::to_string(x.hidden_size));
  x.values = framing::list_of<float>(values);
  return x;
}

}  // namespace

std::vector<uint8_t> encode(const HiddenStates& x) {
  return framing::encode_message<s::HiddenStates>("HiddenStates", [&](s::HiddenStates::Builder b) { fill(b, x); });
}

template <>
HiddenStates decode<HiddenStates>(std::span<const uint8_t> bytes) {
  return framing::decode_message<s::HiddenStates>(bytes, "HiddenStates",
                                                  [](s::HiddenStates::Reader r) { return get(r); });
}

std::string to_text(const HiddenStates& x) {
  // The values are for a debugger, not a log line: the text form names the shape only.
  HiddenStates shape = x;
  shape.values.clear();
  return framing::text_message<s::HiddenStates>("HiddenStates", [&](s::HiddenStates::Builder b) { fill(b, shape); });
}

}  // namespace troupe::wire
