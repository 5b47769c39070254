// The Triton generate codec (net/triton_api) without a server: routes, bodies in, request values
// or errors naming the field out; one body or one event per delta against a recording responder.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "api_codec_test_support.h"  // folder, ok, fails, RecordingResponder, ordered_json
#include "net/triton_api.h"

namespace troupe::net {
namespace {

TEST(TritonRouteTest, PathsNameModelVersionAndEndpoint) {
  auto r = parse_triton_route("/v2/models/demo/generate");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->model, "demo");
  EXPECT_EQ(r->version, "");
  EXPECT_FALSE(r->stream);
  r = parse_triton_route("/v2/models/demo/versions/1/generate_stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->model, "demo");
  EXPECT_EQ(r->version, "1");
  EXPECT_TRUE(r->stream);
  r = parse_triton_route("/v2/models/org/model-7b/generate");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->model, "org/model-7b");
  for (const char* other : {"/v2/models/demo", "/v2/models/demo/infer", "/v2/models//generate", "/v2/models/generate",
                            "/v1/completions", "/v2/models/demo/versions//generate", "/generate"})
    EXPECT_FALSE(parse_triton_route(other)) << other;
}

std::variant<TritonRequest, ApiError> triton(const ordered_json& body, const std::string& path = "/v2/models/demo-model/generate") {
  return parse_triton_request(*parse_triton_route(path), body.dump(), folder(), "demo-model");
}

TEST(TritonParse, ParametersNestedOrTopLevel) {
  const TritonRequest d = ok(triton({{"text_input", "Hello"}}));
  EXPECT_EQ(d.prompt_ids, folder().text.tokenizer.encode("Hello", true));
  EXPECT_EQ(d.params.max_tokens, kTritonDefaultMaxTokens);
  EXPECT_FLOAT_EQ(d.params.temperature, 1.0f);
  const TritonRequest n = ok(triton({{"text_input", "Hello"},
                                     {"parameters",
                                      {{"max_tokens", 5}, {"temperature", 0}, {"top_k", 3}, {"random_seed", 9},
                                       {"stop_words", {"x"}}, {"stream", false}}}}));
  EXPECT_EQ(n.params.max_tokens, 5);
  EXPECT_TRUE(n.params.is_greedy());
  EXPECT_EQ(n.params.top_k, 3);
  EXPECT_EQ(n.params.seed, std::optional<uint64_t>(9));
  EXPECT_EQ(n.stop, std::vector<std::string>{"x"});
  const TritonRequest t = ok(triton({{"text_input", {"Hello"}}, {"max_tokens", 4}, {"stop", "y"}, {"exclude_input_in_output", false}}));
  EXPECT_EQ(t.params.max_tokens, 4);
  EXPECT_EQ(t.stop, std::vector<std::string>{"y"});
  EXPECT_EQ(t.output_prefix, "Hello");
  // "parameters" wins over the top level.
  EXPECT_EQ(ok(triton({{"text_input", "Hi"}, {"max_tokens", 4}, {"parameters", {{"max_tokens", 6}}}})).params.max_tokens, 6);
}

TEST(TritonParse, ErrorsNameTheFieldAndUnknownModelsAre404) {
  fails(triton({{"text_input", "Hi"}}, "/v2/models/other/generate"), 404, "model_name");
  fails(triton({{"text_input", "Hi"}}, "/v2/models/demo-model/versions/2/generate"), 404, "model_version");
  EXPECT_TRUE(std::holds_alternative<TritonRequest>(triton({{"text_input", "Hi"}}, "/v2/models/demo-model/versions/1/generate")));
  fails(triton({{"parameters", {{"max_tokens", 3}}}}), 400, "text_input");
  fails(triton({{"text_input", 3}}), 400, "text_input");
  fails(triton({{"text_input", "Hi"}, {"parameters", 3}}), 400, "parameters");
  fails(triton({{"text_input", "Hi"}, {"parameters", {{"max_tokens", 0}}}}), 400, "parameters.max_tokens");
  fails(triton({{"text_input", "Hi"}, {"parameters", {{"max_tokens", 99999}}}}), 400, "parameters.max_tokens");
  fails(triton({{"text_input", "Hi"}, {"max_tokens", "many"}}), 400, "max_tokens");
  fails(triton({{"text_input", "Hi"}, {"parameters", {{"temperature", "x"}}}}), 400, "parameters.temperature");
  fails(triton({{"text_input", "Hi"}, {"top_p", 0}}), 400, "top_p");
  fails(triton({{"text_input", "Hi"}, {"parameters", {{"stream", true}}}}), 400, "parameters.stream");
  fails(triton({{"text_input", "Hi"}, {"parameters", {{"stop_words", 5}}}}), 400, "parameters.stop_words");
  EXPECT_TRUE(std::holds_alternative<TritonRequest>(
      triton({{"text_input", "Hi"}, {"stream", true}}, "/v2/models/demo-model/generate_stream")));
}

TEST(TritonSinkTest, OneBodyOrOneEventPerDelta) {
  EXPECT_EQ(triton_response("m", "hi"), R"({"model_name":"m","model_version":"1","text_output":"hi"})");
  auto whole = std::make_shared<RecordingResponder>();
  TritonSink a(whole, false, "m", "");
  a.start();
  a.on_output("x", {});
  a.on_output("y", {});
  a.on_finish("length", 1, 2);
  EXPECT_EQ(whole->status, 200u);
  EXPECT_EQ(ordered_json::parse(whole->body)["text_output"], "xy");

  auto streamed = std::make_shared<RecordingResponder>();
  TritonSink b(streamed, true, "m", "P:");
  b.start();
  b.on_output("x", {});
  b.on_output("y", {});
  b.on_finish("length", 1, 2);
  EXPECT_TRUE(streamed->began && streamed->ended);
  const auto ev = streamed->events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0]["text_output"], "P:x");
  EXPECT_EQ(ev[1]["text_output"], "y");
  EXPECT_EQ(ev[1]["model_name"], "m");

  auto empty = std::make_shared<RecordingResponder>();
  TritonSink c(empty, true, "m", "");
  c.start();
  c.on_finish("stop", 1, 1);
  ASSERT_EQ(empty->events().size(), 1u);
  EXPECT_EQ(empty->events()[0]["text_output"], "");
}

// The extension has no finish reason, so a request the server cut short (--request-timeout) must
// not look like a whole answer: an error status for /generate, an error event ending the stream.
TEST(TritonSinkTest, AnAbortedRequestEndsInTheExtensionsErrorObject) {
  auto whole = std::make_shared<RecordingResponder>();
  TritonSink a(whole, false, "m", "");
  a.start();
  a.on_output("partial", {});
  a.on_finish("abort", 1, 1);
  EXPECT_EQ(whole->status, 503u);
  EXPECT_EQ(whole->content_type, "application/json");
  const ordered_json e = ordered_json::parse(whole->body);
  EXPECT_EQ(e, ordered_json({{"error", kTritonAbortMessage}})) << "the extension's error object: one string";

  auto streamed = std::make_shared<RecordingResponder>();
  TritonSink b(streamed, true, "m", "");
  b.start();
  b.on_output("x", {});
  b.on_finish("abort", 1, 1);
  EXPECT_EQ(streamed->status, 200u);  // sent with the first event, before the abort
  EXPECT_TRUE(streamed->ended);
  const auto ev = streamed->events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0]["text_output"], "x");
  EXPECT_EQ(ev[1], ordered_json({{"error", kTritonAbortMessage}}));

  auto finished = std::make_shared<RecordingResponder>();  // every other reason is a whole answer
  TritonSink c(finished, false, "m", "");
  c.on_finish("stop_string", 1, 1);
  EXPECT_EQ(finished->status, 200u);
}

}  // namespace
}  // namespace troupe::net
