#pragma once
// What the fuzz targets share: the demo model folder (loaded once), and the checks every parse
// result must pass. A check that fails prints why and aborts, which libFuzzer reports as a crash
// and saves the input for.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "engine/model_folder.h"
#include "net/api_error.h"

#ifndef TROUPE_DEMO_MODEL
#error "TROUPE_DEMO_MODEL (the demo model folder) must be defined"
#endif

namespace troupe::fuzz {

inline constexpr const char* kServedName = "demo-model";

[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "\n==troupe-fuzz== check failed: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// TROUPE_FUZZ_MODEL overrides the folder compiled in.
inline const ModelFolder& model() {
  static const ModelFolder folder = [] {
    const char* env = std::getenv("TROUPE_FUZZ_MODEL");
    const std::string dir = env && *env ? env : TROUPE_DEMO_MODEL;
    try {
      return open_model_folder(dir);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cannot open the model folder %s: %s (run scripts/fetch_test_data.sh)\n", dir.c_str(),
                   e.what());
      std::exit(2);
    }
  }();
  return folder;
}

// A parse must answer with a value or an ApiError, never by throwing: the server would turn an
// exception into a 500 for what is a client's mistake.
template <class F>
auto no_throw(const char* what, F&& parse) {
  try {
    return parse();
  } catch (const std::exception& e) {
    fail(std::string(what) + " threw instead of returning an ApiError: " + e.what());
  } catch (...) {
    fail(std::string(what) + " threw a non-std exception");
  }
}

// An error is a 4xx whose body is valid JSON naming the same param.
inline void check_error(const char* what, const net::ApiError& e) {
  if (e.status != 400 && e.status != 404) fail(std::string(what) + ": unexpected status " + std::to_string(e.status));
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(e.body());
  } catch (const std::exception& ex) {
    fail(std::string(what) + ": the error body is not JSON: " + ex.what());
  }
  const auto& p = j["error"]["param"];
  if (e.param.empty() ? !p.is_null() : !(p.is_string() && p.get<std::string>() == e.param))
    fail(std::string(what) + ": the error body does not name param '" + e.param + "'");
}

// A prompt the engine is handed: non-empty, ids inside the vocabulary, and room for max_tokens
// (>= 1) in the context window; the sampling parameters pass their own validation.
inline void check_prompt(const char* what, const std::vector<int32_t>& ids, const SamplingParams& params,
                         int64_t vocab) {
  const ModelFolder& m = model();
  if (ids.empty()) fail(std::string(what) + ": accepted an empty prompt");
  for (int32_t id : ids)
    if (id < 0 || id >= vocab) fail(std::string(what) + ": prompt id " + std::to_string(id) + " outside the vocabulary");
  if (params.max_tokens < 1) fail(std::string(what) + ": max_tokens " + std::to_string(params.max_tokens) + " < 1");
  if (static_cast<int64_t>(ids.size()) + params.max_tokens > m.config.max_position_embeddings)
    fail(std::string(what) + ": prompt + max_tokens exceeds the context window");
  if (std::string why = params.validate(); !why.empty()) fail(std::string(what) + ": accepted invalid params: " + why);
}

// An integer the client gave for an int32 field is used as given (or the request refused), never
// silently wrapped. `object` is where the field sits in the body; null when absent.
inline void check_int_field(const char* what, const nlohmann::ordered_json* object, const char* key, int64_t used) {
  if (!object || !object->is_object()) return;
  auto it = object->find(key);
  if (it == object->end() || !it->is_number_integer()) return;
  if (it->is_number_unsigned() ? it->get<uint64_t>() != static_cast<uint64_t>(used) : it->get<int64_t>() != used)
    fail(std::string(what) + ": '" + key + "' was " + it->dump() + " but the request uses " + std::to_string(used));
}

// The body as JSON, for the checks above; null when it does not parse.
inline nlohmann::ordered_json body_json(const std::string& body) {
  return nlohmann::ordered_json::parse(body, nullptr, false);  // discarded (null-like) on error
}

}  // namespace troupe::fuzz
