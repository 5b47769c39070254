#pragma once
// The one list of request fields of /v1/completions and /v1/chat/completions: every field of
// vLLM's CompletionRequest and ChatCompletionRequest, each with what we do with it. A field is
// honored (its effect shown by the end-to-end test the entry names), honored for some values
// only (any other value is a 400 naming it), refused (any value but "not asking" is a 400
// "'X' is not supported yet"), or inert (vLLM does nothing with it either). A field of neither
// OpenAI's nor vLLM's is logged once as a warning and otherwise ignored, as vLLM does, so
// clients that send extra fields keep working. Nothing we do not do is accepted silently:
// tests/net/request_fields_test.cpp walks this list, and docs/coming_from_vllm.md is made from it.
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "net/api_error.h"

namespace troupe::net {

enum class ApiKind { Completion, Chat };

enum class FieldStatus {
  Honored,  // read by the parser; `accepted` is empty
  Partial,  // the values in `accepted` are honored, any other is a 400
  Refused,  // only the values in `accepted` ("not asking": false, 0, [] ...) pass; others are 400s
  Inert,    // accepted and without effect, as in vLLM (which says so in its own source)
};

struct RequestField {
  std::string_view name;
  bool completion;               // a field of CompletionRequest
  bool chat;                     // a field of ChatCompletionRequest
  FieldStatus status;
  std::string_view accepted;     // JSON values separated by " | " that pass the check (null always does)
  std::string_view example;      // a JSON object merged into a minimal valid request: it uses the field
  std::string_view effect_test;  // Honored / Partial: "tests/...cpp:TestName" showing the effect
  std::string_view note;         // the docs table's words
  // Honored only when the serve flag named here is given (as in vLLM); without it, any value but
  // those in `accepted` is a 400 naming the field and the flag.
  std::string_view gate = {};
};

// The serve flags that open gated fields (RequestField::gate).
struct FieldGates {
  bool trust_request_chat_template = false;  // --trust-request-chat-template: chat_template
  bool priority_scheduling = false;          // --scheduling-policy priority: priority
  bool opens(std::string_view gate) const;
  // The cluster file's [server] line that opens the gate, for the 400 a closed one answers.
  static std::string_view cluster_key(std::string_view gate);
};

// Every field, in vLLM's order (CompletionRequest's, then the chat-only ones).
std::span<const RequestField> request_fields();

// The entry for `name` on `kind`'s route, or null (an unknown field there).
const RequestField* find_request_field(ApiKind kind, std::string_view name);

// A 400 naming the first field the body uses that the list refuses (or a Partial field's value
// that is not honored, or a gated field whose flag `gates` lacks); nullopt when every known field
// is honored or not asking for anything.
std::optional<ApiError> refuse_unsupported_fields(ApiKind kind, const nlohmann::ordered_json& body,
                                                  const FieldGates& gates = {});

// The body's keys that are not on `kind`'s list, in body order.
std::vector<std::string> unknown_request_fields(ApiKind kind, const nlohmann::ordered_json& body);

// Logs one warning per field name the first time the process meets it (vLLM warns per request;
// once is enough to find a typo without flooding the log). Returns the names that were new.
std::vector<std::string> warn_unknown_fields_once(const std::vector<std::string>& names);

// The "Coming from vLLM" table of docs/coming_from_vllm.md, one Markdown row per field.
std::string request_fields_markdown();

}  // namespace troupe::net
