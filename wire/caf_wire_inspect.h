#pragma once
// CAF inspect overloads that send the engine's cluster values through the Cap'n Proto wire schema
// (wire/troupe.capnp, wire/wire_codec.h) instead of CAF's field-by-field format: what
// crosses a node boundary is then exactly the documented, versioned schema message.
//
// Meant to replace the overloads of these types in actors/message_inspect.h (which
// includes this header in their place); the bridge to CAF lives here so that troupe_wire itself
// never depends on CAF. Users link troupe_wire and caf_core.
//
// Per inspector (CAF 0.17):
//   - caf::serializer (binary_serializer, the middleman's BASP): one byte sequence, the wire
//     message (CAF writes its length, then the bytes);
//   - caf::deserializer: reads that byte sequence and decodes it; malformed bytes become a
//     caf::error (sec::invalid_argument, the decoder's message as context), never a crash;
//   - any other reading inspector (the stringification inspector behind to_string and
//     caf::deep_to_string): the schema's text form, e.g. StepPlan("(stepId = 9, ...)").
//
// Wire size: a message costs CAF's sequence length (8 bytes) plus the Cap'n Proto framing
// (8 bytes of segment table for a one-segment message) on top of the values.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <caf/deserializer.hpp>
#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/none.hpp>
#include <caf/sec.hpp>
#include <caf/serializer.hpp>

#include "wire/wire_codec.h"

namespace troupe::wire::caf_bridge {

template <class Inspector, class T>
typename Inspector::result_type inspect_through_wire(Inspector& f, T& x, const char* type_name) {
  if constexpr (std::is_base_of_v<caf::serializer, Inspector>) {
    std::vector<uint8_t> bytes = encode(x);
    return f(caf::meta::type_name(type_name), bytes);
  } else if constexpr (Inspector::reads_state) {
    // Stringification (to_string, deep_to_string): readable, and never a wire format.
    std::string text = to_text(x);
    return f(caf::meta::type_name(type_name), text);
  } else {
    static_assert(std::is_base_of_v<caf::deserializer, Inspector>,
                  "troupe::wire: a loading inspector other than caf::deserializer");
    std::vector<uint8_t> bytes;
    auto decode_into_x = caf::meta::load_callback([&]() -> caf::error {
      try {
        x = decode<T>(bytes);
      } catch (const std::invalid_argument& e) {
        return caf::make_error(caf::sec::invalid_argument, std::string(e.what()));
      }
      return caf::none;
    });
    return f(caf::meta::type_name(type_name), bytes, decode_into_x);
  }
}

}  // namespace troupe::wire::caf_bridge

namespace troupe {

// In namespace troupe, next to the types, where ADL finds them.

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, SamplingParams& x) {
  return wire::caf_bridge::inspect_through_wire(f, x, "SamplingParams");
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, GenerationRequest& x) {
  return wire::caf_bridge::inspect_through_wire(f, x, "GenerationRequest");
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ScheduledSequence& x) {
  return wire::caf_bridge::inspect_through_wire(f, x, "ScheduledSequence");
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StepPlan& x) {
  return wire::caf_bridge::inspect_through_wire(f, x, "StepPlan");
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StepResult& x) {
  return wire::caf_bridge::inspect_through_wire(f, x, "StepResult");
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, KvPoolShape& x) {
  return wire::caf_bridge::inspect_through_wire(f, x, "KvPoolShape");
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, FinishedSequence& x) {
  return wire::caf_bridge::inspect_through_wire(f, x, "FinishedSequence");
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PoolJournal& x) {
  return wire::caf_bridge::inspect_through_wire(f, x, "PoolJournal");
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, HiddenStates& x) {
  return wire::caf_bridge::inspect_through_wire(f, x, "HiddenStates");
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, TpRankOp& x) {
  return wire::caf_bridge::inspect_through_wire(f, x, "TpRankOp");
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, BackendCapabilities& x) {
  return wire::caf_bridge::inspect_through_wire(f, x, "BackendCapabilities");
}

}  // namespace troupe
