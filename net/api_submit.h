#pragma once
// What every generation route shares once its body is parsed: fitting
// max_tokens into the context window, and handing the tokenized request to the gateway with a
// sink. (Admission, which every generation route does first, is net/admission.h.)
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/gateway_actor.h"
#include "engine/sampling/sampling_params.h"
#include "net/api_error.h"
#include "net/api_routes.h"
#include "net/http_server.h"
#include "net/json_body.h"  // parse_json_object: every route's body

namespace troupe::net {

// A string or an array of strings (stop sequences) appended to `out`; a null adds nothing.
std::optional<ApiError> read_strings(const nlohmann::ordered_json& value, const std::string& field,
                                     std::vector<std::string>& out);
// A boolean or null (keeps `out`).
std::optional<ApiError> read_bool(const nlohmann::ordered_json& object, const char* key, const std::string& prefix,
                                  bool& out);
// read_sampling_params (OpenAI's names) over `object`, errors naming prefix + field; max_tokens
// keeps out's value when absent or null (set it to -1 first to learn whether it was given).
std::optional<ApiError> read_sampling_fields(const nlohmann::ordered_json& object, const std::string& prefix,
                                             SamplingParams& out);

void reply_api_error(HttpResponder& r, const ApiError& e, std::map<std::string, std::string> headers = {});

// Checks the prompt fits the context and sets max_tokens: `requested` < 0 means "not given"
// (then min(default_max, room)). Errors name `prompt_field` or `max_field`.
std::optional<ApiError> fit_max_tokens(size_t prompt_tokens, int64_t context, int32_t requested, int32_t default_max,
                                       const std::string& prompt_field, const std::string& max_field,
                                       int32_t& max_tokens);

// `params` with the seed --seed derives for sequence `id` when it has none (ApiContext::seed).
SamplingParams with_server_seed(const ApiContext& ctx, SamplingParams params, SeqId id);

// Hands the request to the gateway; a client hang-up aborts the sequence.
void submit_to_gateway(ApiContext& ctx, SeqId id, std::vector<int32_t> prompt_ids, const SamplingParams& params,
                       std::vector<std::string> stop, std::shared_ptr<RequestSink> sink, HttpResponder& responder);

}  // namespace troupe::net
