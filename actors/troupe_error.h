#pragma once
// troupe_error: what went wrong, as a code a reader (the HTTP layer, a test, the head of a
// cluster) can branch on, with the why as text. A caf::error of category "troupe" carries the
// code and, as its context, one std::string: the message. CAF serializes an error as category,
// code and context, so a code made on a node arrives at the head as the same code; rendering it
// there needs the category registered (TroupeActorSystemConfig does, in every process).
//
// CAF's own conditions stay caf::sec (request_receiver_down, request_timeout, unexpected_message):
// they say what happened to a message, not what Troupe refused or failed.
#include <cstdint>
#include <optional>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>  // CAF_ERROR_CODE_ENUM builds the context in the header

namespace troupe {

enum class troupe_error : uint8_t {
  // 0 is "no error" to CAF.
  invalid_request = 1,  // the scheduler refused a request as bad input (no tokens, too long, ...)
  step_failed,          // an executor's, a pipeline stage's or a tensor-parallel rank's step threw
  // An executor or stage got a message it cannot act on: a KV pool it cannot make, a step before
  // its init, a step sent to a stage other than the first.
  executor_refused,
  executor_replaced,    // the scheduler was handed another executor: the old one's KV cache is gone
  // The engine cannot take or finish the request: its scheduler's restart budget is spent, a
  // cluster's nodes are lost past theirs, or the scheduler could not be asked.
  engine_lost,
  shutting_down,        // the server drains: live requests end, new ones are refused
  // A cluster node refused the head (another identity, a second head, a shard it does not hold),
  // could not reach the peer a stage or rank needs, or a rank could not join its TP group.
  node_refused,
};

// The code's name, as written above ("step_failed").
std::string to_string(troupe_error code);

// The category atom CAF carries (at most 10 characters: an atom's limit).
inline constexpr caf::atom_value troupe_error_category = caf::atom("troupe");

// The code of a Troupe error; nullopt for any other (CAF's own, or none).
std::optional<troupe_error> troupe_error_code(const caf::error& err);

// The text an error carries: its context when that is one string (how every troupe_error is
// made, and caf::sec errors made with a text); else empty.
std::string error_message(const caf::error& err);

// CAF's renderer for the category: "step_failed: executor step failed: ...".
std::string render_troupe_error(uint8_t code, caf::atom_value category, const caf::message& context);

}  // namespace troupe

// caf::make_error(troupe_error::x, "why") and caf::error{troupe_error::x, "why"} build one.
CAF_ERROR_CODE_ENUM(troupe::troupe_error, "troupe")
