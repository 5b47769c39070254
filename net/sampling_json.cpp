#include "net/sampling_json.h"

#include <cstdint>
#include <limits>

#include <nlohmann/json.hpp>

namespace troupe::net {
namespace {

// Reads body[key] into dst if present and not null; a wrong JSON type is a FieldError.
template <class T, class Json>
std::optional<FieldError> read(const Json& body, const char* key, T& dst) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean()) return FieldError{key, std::string(key) + " must be true or false"};
  } else if constexpr (std::is_integral_v<T>) {
    // Checked against T's range before narrowing: 4294967297 must not become 1.
    if (!it->is_number_integer() || (it->is_number_unsigned() && it->template get<uint64_t>() > uint64_t{INT64_MAX}) ||
        it->template get<int64_t>() < std::numeric_limits<T>::min() || it->template get<int64_t>() > std::numeric_limits<T>::max())
      return FieldError{key, std::string(key) + " must be an integer in range"};
  } else {
    if (!it->is_number()) return FieldError{key, std::string(key) + " must be a number"};
  }
  dst = it->template get<T>();
  return std::nullopt;
}

template <class Json>
std::optional<FieldError> read_params(const Json& body, SamplingParams& out) {
  if (!body.is_object()) return FieldError{"", "the request body must be a JSON object"};
  std::optional<FieldError> err;
  if ((err = read(body, "temperature", out.temperature))) return err;
  if ((err = read(body, "top_p", out.top_p))) return err;
  if ((err = read(body, "top_k", out.top_k))) return err;
  if ((err = read(body, "min_p", out.min_p))) return err;
  if ((err = read(body, "repetition_penalty", out.repetition_penalty))) return err;
  if ((err = read(body, "presence_penalty", out.presence_penalty))) return err;
  if ((err = read(body, "frequency_penalty", out.frequency_penalty))) return err;
  if ((err = read(body, "max_tokens", out.max_tokens))) return err;
  if ((err = read(body, "ignore_eos", out.ignore_eos))) return err;
  if (auto it = body.find("seed"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer()) return FieldError{"seed", "seed must be an integer"};
    out.seed = static_cast<uint64_t>(it->template get<int64_t>());
  }
  if (std::string why = out.validate(); !why.empty()) return FieldError{why.substr(0, why.find(' ')), why};
  return std::nullopt;
}

}  // namespace

std::optional<FieldError> read_sampling_params(const nlohmann::json& body, SamplingParams& out) {
  return read_params(body, out);
}

std::optional<FieldError> read_sampling_params(const nlohmann::ordered_json& body, SamplingParams& out) {
  return read_params(body, out);
}

}  // namespace troupe::net
