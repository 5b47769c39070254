#include "net/api_submit.h"

#include <algorithm>

#include <caf/all.hpp>

#include "actors/message_inspect.h"
#include "net/sampling_json.h"

namespace troupe::net {

using nlohmann::ordered_json;

std::optional<ApiError> read_strings(const ordered_json& value, const std::string& field, std::vector<std::string>& out) {
  if (value.is_null()) return std::nullopt;
  if (value.is_string()) {
    out.push_back(value.get<std::string>());
    return std::nullopt;
  }
  const ApiError wrong{400, "'" + field + "' must be a string or an array of strings", field};
  if (!value.is_array()) return wrong;
  for (const auto& s : value) {
    if (!s.is_string()) return wrong;
    out.push_back(s.get<std::string>());
  }
  return std::nullopt;
}

std::optional<ApiError> read_bool(const ordered_json& object, const char* key, const std::string& prefix, bool& out) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return ApiError{400, "'" + prefix + key + "' must be true or false", prefix + key};
  out = it->get<bool>();
  return std::nullopt;
}

std::optional<ApiError> read_sampling_fields(const ordered_json& object, const std::string& prefix, SamplingParams& out) {
  if (auto it = object.find("max_tokens"); it != object.end() && !it->is_null() &&
                                            !(it->is_number_integer() && it->get<int64_t>() >= 1 &&
                                              it->get<int64_t>() <= INT32_MAX))
    return ApiError{400, prefix + "max_tokens must be a positive integer", prefix + "max_tokens"};
  const int32_t before = out.max_tokens;
  out.max_tokens = 1;  // validate() must not trip on a max_tokens that is not given
  auto err = read_sampling_params(object, out);
  if (auto it = object.find("max_tokens"); it == object.end() || it->is_null()) out.max_tokens = before;
  if (err) return ApiError{400, prefix + err->message, err->field.empty() ? "" : prefix + err->field};
  return std::nullopt;
}

void reply_api_error(HttpResponder& r, const ApiError& e, std::map<std::string, std::string> headers) {
  r.reply(e.status, "application/json", e.body(), std::move(headers));
}

std::optional<ApiError> fit_max_tokens(size_t prompt_tokens, int64_t context, int32_t requested, int32_t default_max,
                                       const std::string& prompt_field, const std::string& max_field,
                                       int32_t& max_tokens) {
  const int64_t prompt = static_cast<int64_t>(prompt_tokens);
  const int64_t room = context - prompt;
  if (room < 1)
    return ApiError{400, "this model's maximum context length is " + std::to_string(context) + " tokens; the prompt has " +
                             std::to_string(prompt), prompt_field};
  if (requested < 0) {
    max_tokens = static_cast<int32_t>(std::min<int64_t>(default_max, room));
    return std::nullopt;
  }
  if (requested > room)
    return ApiError{400, "this model's maximum context length is " + std::to_string(context) + " tokens; the prompt (" +
                             std::to_string(prompt) + ") plus " + max_field + " (" + std::to_string(requested) +
                             ") exceeds it", max_field};
  max_tokens = requested;
  return std::nullopt;
}

SamplingParams with_server_seed(const ApiContext& ctx, SamplingParams params, SeqId id) {
  if (params.seed || !ctx.seed) return params;
  // splitmix64 of (seed, id): neighbouring ids give unrelated seeds.
  uint64_t z = *ctx.seed + (static_cast<uint64_t>(id) + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  params.seed = z ^ (z >> 31);
  return params;
}

void submit_to_gateway(ApiContext& ctx, SeqId id, std::vector<int32_t> prompt_ids, const SamplingParams& params,
                       std::vector<std::string> stop, std::shared_ptr<RequestSink> sink, HttpResponder& responder) {
  auto g = std::make_shared<GatewayRequest>();
  g->generation.id = id;
  g->generation.prompt_token_ids = std::move(prompt_ids);
  g->generation.sampling_params = with_server_seed(ctx, params, id);
  g->generation.eos_token_ids = ctx.model->eos_token_ids;
  g->stop = std::move(stop);
  g->sink = std::move(sink);
  caf::actor gateway = ctx.gateway;
  responder.on_disconnect([gateway, id] { caf::anon_send(gateway, abort_atom::value, id); });
  caf::anon_send(gateway, submit_atom::value, std::move(g));
}

}  // namespace troupe::net
