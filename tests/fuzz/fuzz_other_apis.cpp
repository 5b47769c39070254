// libFuzzer target: the bytes are a body for TGI's /generate, Triton's generate (model routes with
// and without a version) and vLLM's /tokenize and /detokenize, each parsed against the demo model
// folder; accepted /tokenize and /detokenize requests are answered as their routes answer them
// (token strings, decoding). The bytes are also tried as a Triton route path. Crashes: sanitizer
// reports and the checks in fuzz_common.h.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "net/tgi_api.h"
#include "net/tokenize_api.h"
#include "net/triton_api.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

using nlohmann::ordered_json;
using troupe::net::ApiError;
namespace fz = troupe::fuzz;
namespace net = troupe::net;

// The object a "parameters" field holds, else null.
const ordered_json* parameters(const ordered_json& j) {
  if (!j.is_object()) return nullptr;
  auto it = j.find("parameters");
  return it != j.end() && it->is_object() ? &*it : nullptr;
}

void tgi(const std::string& body, const ordered_json& j) {
  const char* what = "parse_tgi_request";
  auto parsed = fz::no_throw(what, [&] { return net::parse_tgi_request(body, fz::model()); });
  if (const auto* e = std::get_if<ApiError>(&parsed)) return fz::check_error(what, *e);
  const net::TgiRequest& r = std::get<net::TgiRequest>(parsed);
  fz::check_prompt(what, r.prompt_ids, r.params, fz::model().config.vocab_size);
  fz::check_int_field(what, parameters(j), "top_k", r.params.top_k);
  fz::check_int_field(what, parameters(j), "top_n_tokens", r.top_n_tokens);
}

void triton(std::string_view path, const std::string& body, const ordered_json& j) {
  const char* what = "parse_triton_request";
  auto route = net::parse_triton_route(path);
  if (!route) fz::fail(std::string("parse_triton_route refused ") + std::string(path));
  auto parsed = fz::no_throw(what, [&] { return net::parse_triton_request(*route, body, fz::model(), fz::kServedName); });
  if (const auto* e = std::get_if<ApiError>(&parsed)) return fz::check_error(what, *e);
  const net::TritonRequest& r = std::get<net::TritonRequest>(parsed);
  fz::check_prompt(what, r.prompt_ids, r.params, fz::model().config.vocab_size);
  // "parameters" overrides the top level.
  const ordered_json* p = parameters(j);
  const bool nested = p && p->contains("top_k") && !(*p)["top_k"].is_null();
  fz::check_int_field(what, nested ? p : &j, "top_k", r.params.top_k);
}

void tokenize(const std::string& body) {
  const char* what = "parse_tokenize_request";
  const troupe::ModelFolder& m = fz::model();
  auto parsed = fz::no_throw(what, [&] { return net::parse_tokenize_request(body, m, fz::kServedName); });
  if (const auto* e = std::get_if<ApiError>(&parsed)) return fz::check_error(what, *e);
  const net::Tokenized& t = std::get<net::Tokenized>(parsed);
  std::vector<std::string> strs;
  for (int32_t id : t.ids) {
    if (id < 0 || id >= m.text.tokenizer.vocab_size()) fz::fail(std::string(what) + ": id outside the vocabulary");
    strs.push_back(m.text.tokenizer.id_to_token(id).value_or(""));
  }
  const std::string out = net::tokenize_response(t.ids, m.config.max_position_embeddings, strs);
  if (fz::body_json(out).is_discarded()) fz::fail("tokenize_response is not JSON");
}

void detokenize(const std::string& body) {
  const char* what = "parse_detokenize_request";
  const troupe::ModelFolder& m = fz::model();
  auto parsed = fz::no_throw(what, [&] { return net::parse_detokenize_request(body, m, fz::kServedName); });
  if (const auto* e = std::get_if<ApiError>(&parsed)) return fz::check_error(what, *e);
  const auto& ids = std::get<std::vector<int32_t>>(parsed);
  const std::string out = net::detokenize_response(m.text.tokenizer.decode(ids));
  if (fz::body_json(out).is_discarded()) fz::fail("detokenize_response is not JSON");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)fz::model();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  const ordered_json j = fz::body_json(body);
  tgi(body, j);
  triton("/v2/models/demo-model/generate", body, j);
  triton("/v2/models/demo-model/versions/1/generate_stream", body, j);
  tokenize(body);
  detokenize(body);
  // The route parser on arbitrary paths: whatever it accepts must round-trip into a route.
  if (auto route = net::parse_triton_route(body)) {
    if (route->model.empty()) fz::fail("parse_triton_route accepted an empty model name");
    std::string again = "/v2/models/" + route->model;
    if (!route->version.empty()) again += "/versions/" + route->version;
    again += route->stream ? "/generate_stream" : "/generate";
    if (again != body) fz::fail("parse_triton_route: " + body + " does not round-trip (" + again + ")");
  }
  return 0;
}
