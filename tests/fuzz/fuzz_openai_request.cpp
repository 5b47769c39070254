// libFuzzer target: the bytes are a /v1/completions body and a /v1/chat/completions body, parsed,
// validated and tokenized (chat: rendered through the demo model's chat template) against the
// demo model folder. Beyond sanitizer reports, a crash is any check in fuzz_common.h failing: an
// exception escaping the parser, an error that is not a well-formed 4xx, or an accepted request
// the engine could not run as the client asked.
#include <cstddef>
#include <cstdint>
#include <string>

#include "net/openai_api.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

using troupe::net::ApiError;
using troupe::net::ApiKind;
using troupe::net::CompletionRequest;
namespace fz = troupe::fuzz;

void run(ApiKind kind, const std::string& body, const nlohmann::ordered_json& j) {
  const char* what = kind == ApiKind::Chat ? "parse_completion_request(Chat)" : "parse_completion_request(Completion)";
  auto parsed = fz::no_throw(what, [&] { return parse_completion_request(kind, body, fz::model(), fz::kServedName); });
  if (const auto* e = std::get_if<ApiError>(&parsed)) return fz::check_error(what, *e);
  const CompletionRequest& r = std::get<CompletionRequest>(parsed);
  if (r.kind != kind) fz::fail(std::string(what) + ": wrong kind");
  for (const auto& prompt : r.prompts) {  // a completions batch: each prompt with its own max_tokens
    troupe::SamplingParams p = r.params;
    p.max_tokens = prompt.max_tokens;
    fz::check_prompt(what, prompt.ids, p, fz::model().config.vocab_size);
  }
  // Chat's max_completion_tokens wins over max_tokens.
  const bool completion_max = kind == ApiKind::Chat && j.contains("max_completion_tokens") && !j["max_completion_tokens"].is_null();
  fz::check_int_field(what, &j, completion_max ? "max_completion_tokens" : "max_tokens", r.params.max_tokens);
  fz::check_int_field(what, &j, "top_k", r.params.top_k);
  // logprobs: completions' count, or chat's top_logprobs (chat's logprobs is a boolean).
  fz::check_int_field(what, &j, kind == ApiKind::Chat ? "top_logprobs" : "logprobs", r.params.logprobs);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)fz::model();  // load the tokenizer before the first input, not inside its time budget
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  const nlohmann::ordered_json j = fz::body_json(body);
  run(ApiKind::Completion, body, j);
  run(ApiKind::Chat, body, j);
  return 0;
}
