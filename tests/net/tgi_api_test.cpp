// The TGI codec (net/tgi_api) without a server: /generate bodies in, request values or errors
// naming the field out; responses, stream events and the sink against a recording responder.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "api_codec_test_support.h"  // folder, ok, fails, RecordingResponder, ordered_json
#include "net/tgi_api.h"

namespace troupe::net {
namespace {

std::variant<TgiRequest, ApiError> tgi(const ordered_json& body) { return parse_tgi_request(body.dump(), folder()); }

TEST(TgiParse, InputsAloneAreGreedyWithTgisDefaultLength) {
  const TgiRequest r = ok(tgi({{"inputs", "Hello there"}}));
  EXPECT_EQ(r.prompt_ids, folder().text.tokenizer.encode("Hello there", true));
  EXPECT_TRUE(r.params.is_greedy());
  EXPECT_EQ(r.params.max_tokens, kTgiDefaultMaxNewTokens);
  EXPECT_FALSE(r.details);
  EXPECT_TRUE(r.stop.empty());
  EXPECT_EQ(r.full_text_prefix, "");
}

TEST(TgiParse, ParametersMapOntoSamplingParams) {
  const TgiRequest r = ok(tgi({{"inputs", "Hi"},
                               {"parameters",
                                {{"do_sample", true}, {"temperature", 0.5}, {"top_p", 0.9}, {"top_k", 7},
                                 {"repetition_penalty", 1.2}, {"seed", 42}, {"max_new_tokens", 9},
                                 {"stop", {"\n", "END"}}, {"details", true}, {"watermark", false}, {"best_of", 1}}}}));
  EXPECT_FLOAT_EQ(r.params.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.params.top_p, 0.9f);
  EXPECT_EQ(r.params.top_k, 7);
  EXPECT_FLOAT_EQ(r.params.repetition_penalty, 1.2f);
  EXPECT_EQ(r.params.seed, std::optional<uint64_t>(42));
  EXPECT_EQ(r.params.max_tokens, 9);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_TRUE(r.details);
}

TEST(TgiParse, DoSampleFalseIsGreedyUnlessAWarperIsGiven) {
  const TgiRequest greedy = ok(tgi({{"inputs", "Hi"}, {"parameters", {{"do_sample", false}, {"seed", 3}, {"top_p", 1.0}}}}));
  EXPECT_TRUE(greedy.params.is_greedy());
  EXPECT_FALSE(greedy.params.seed.has_value());  // greedy: no seed to report
  // TGI samples whenever a warper changes the distribution, do_sample or not.
  EXPECT_FALSE(ok(tgi({{"inputs", "Hi"}, {"parameters", {{"temperature", 0.7}}}})).params.is_greedy());
  EXPECT_FALSE(ok(tgi({{"inputs", "Hi"}, {"parameters", {{"top_k", 5}}}})).params.is_greedy());
  EXPECT_FALSE(ok(tgi({{"inputs", "Hi"}, {"parameters", {{"top_p", 0.5}}}})).params.is_greedy());
  EXPECT_FALSE(ok(tgi({{"inputs", "Hi"}, {"parameters", {{"do_sample", true}}}})).params.is_greedy());
  EXPECT_TRUE(ok(tgi({{"inputs", "Hi"}, {"parameters", {{"do_sample", true}, {"temperature", 0}}}})).params.is_greedy());
}

TEST(TgiParse, TruncateKeepsTheLastPromptTokensAndReturnFullTextKeepsTheInputs) {
  const auto all = folder().text.tokenizer.encode("one two three four five", true);
  ASSERT_GT(all.size(), 2u);
  const TgiRequest r =
      ok(tgi({{"inputs", "one two three four five"}, {"parameters", {{"truncate", 2}, {"return_full_text", true}}}}));
  EXPECT_EQ(r.prompt_ids, std::vector<int32_t>(all.end() - 2, all.end()));
  EXPECT_EQ(r.full_text_prefix, "one two three four five");
}

TEST(TgiParse, ErrorsNameTheField) {
  fails(parse_tgi_request("{", folder()), 400, "");
  fails(parse_tgi_request("[1]", folder()), 400, "");
  fails(tgi({{"parameters", ordered_json::object()}}), 400, "inputs");
  fails(tgi({{"inputs", 5}}), 400, "inputs");
  fails(tgi({{"inputs", ""}}), 400, "inputs");
  fails(tgi({{"inputs", "Hi"}, {"parameters", "fast"}}), 400, "parameters");
  fails(tgi({{"inputs", "Hi"}, {"parameters", {{"max_new_tokens", 0}}}}), 400, "parameters.max_new_tokens");
  fails(tgi({{"inputs", "Hi"}, {"parameters", {{"max_new_tokens", "ten"}}}}), 400, "parameters.max_new_tokens");
  fails(tgi({{"inputs", "Hi"}, {"parameters", {{"max_new_tokens", 5000}}}}), 400, "parameters.max_new_tokens");
  fails(tgi({{"inputs", "Hi"}, {"parameters", {{"temperature", "hot"}}}}), 400, "parameters.temperature");
  fails(tgi({{"inputs", "Hi"}, {"parameters", {{"top_p", 1.5}}}}), 400, "parameters.top_p");
  fails(tgi({{"inputs", "Hi"}, {"parameters", {{"repetition_penalty", 0}}}}), 400, "parameters.repetition_penalty");
  fails(tgi({{"inputs", "Hi"}, {"parameters", {{"seed", "x"}}}}), 400, "parameters.seed");
  fails(tgi({{"inputs", "Hi"}, {"parameters", {{"do_sample", "yes"}}}}), 400, "parameters.do_sample");
  fails(tgi({{"inputs", "Hi"}, {"parameters", {{"stop", {1, 2}}}}}), 400, "parameters.stop");
  fails(tgi({{"inputs", "Hi"}, {"parameters", {{"truncate", -3}}}}), 400, "parameters.truncate");
  for (const auto& [key, value] : std::vector<std::pair<std::string, ordered_json>>{
           {"typical_p", 0.5}, {"best_of", 2}, {"watermark", true}, {"decoder_input_details", true},
           {"grammar", {{"type", "json"}}}, {"adapter_id", "a"}})
    fails(tgi({{"inputs", "Hi"}, {"parameters", {{key, value}}}}), 400, "parameters." + key);
  fails(tgi({{"inputs", "Hi"}, {"parameters", {{"top_n_tokens", 21}}}}), 400, "parameters.top_n_tokens");
  fails(tgi({{"inputs", "Hi"}, {"parameters", {{"top_n_tokens", "3"}}}}), 400, "parameters.top_n_tokens");
}

TEST(TgiFormat, FinishReasonsInTgisWords) {
  EXPECT_EQ(tgi_finish_reason("length"), "length");
  EXPECT_EQ(tgi_finish_reason("stop"), "eos_token");
  EXPECT_EQ(tgi_finish_reason("stop_string"), "stop_sequence");
  EXPECT_EQ(tgi_finish_reason("abort"), "abort");
}

TEST(TgiFormat, GenerateResponseWithAndWithoutDetails) {
  EXPECT_EQ(tgi_generate_response("hi", std::nullopt), R"({"generated_text":"hi"})");
  const ordered_json j = ordered_json::parse(tgi_generate_response("hi", TgiDetails{"length", 2, 7}));
  EXPECT_EQ(j["generated_text"], "hi");
  EXPECT_EQ(j["details"]["finish_reason"], "length");
  EXPECT_EQ(j["details"]["generated_tokens"], 2);
  EXPECT_EQ(j["details"]["seed"], 7);
  EXPECT_TRUE(ordered_json::parse(tgi_generate_response("", TgiDetails{"eos_token", 0, {}}))["details"]["seed"].is_null());
}

TEST(TgiFormat, StreamEventCarriesTheTokenAndOnTheLastTheText) {
  const ordered_json token = {{"id", 7}, {"text", " a"}, {"logprob", -0.5}, {"special", false}};
  const ordered_json mid = ordered_json::parse(tgi_stream_event(1, token, nullptr, std::nullopt, std::nullopt));
  EXPECT_EQ(mid["index"], 1);
  EXPECT_EQ(mid["token"], token);
  EXPECT_TRUE(mid["top_tokens"].is_null());
  EXPECT_TRUE(mid["generated_text"].is_null());
  EXPECT_TRUE(mid["details"].is_null());
  const ordered_json last =
      ordered_json::parse(tgi_stream_event(2, token, ordered_json::array(), std::string(" ab"), TgiDetails{"length", 2, {}}));
  EXPECT_TRUE(last["top_tokens"].is_array());
  EXPECT_EQ(last["generated_text"], " ab");
  EXPECT_EQ(last["details"]["finish_reason"], "length");
  EXPECT_EQ(last["details"]["generated_tokens"], 2);
}

// One token as the gateway hands it to a sink.
std::vector<GeneratedToken> token(int32_t id, std::string text, float logprob = -1.0f) {
  std::vector<GeneratedToken> one(1);
  one[0].id = id;
  one[0].text = std::move(text);
  one[0].logprobs.logprob = logprob;
  return one;
}

TgiRequest tgi_request(bool details, std::vector<std::string> stop = {}, std::string prefix = "") {
  TgiRequest r;
  r.params.temperature = 0.0f;
  r.details = details;
  r.stop = std::move(stop);
  r.full_text_prefix = std::move(prefix);
  return r;
}

TEST(TgiSinkTest, NonStreamedAnswerIsOneBody) {
  auto resp = std::make_shared<RecordingResponder>();
  TgiSink sink(resp, false, tgi_request(true, {"END"}), folder().text.tokenizer);
  sink.start();
  sink.on_output("Hello", token(9707, "Hello", -0.25f));
  sink.on_output(" world", token(1879, " world"));
  sink.on_finish("stop_string", 3, 2);  // the gateway's reason when a stop string matched
  EXPECT_EQ(resp->status, 200u);
  EXPECT_EQ(resp->content_type, "application/json");
  const ordered_json j = ordered_json::parse(resp->body);
  EXPECT_EQ(j["generated_text"], "Hello world");
  EXPECT_EQ(j["details"]["finish_reason"], "stop_sequence");
  EXPECT_EQ(j["details"]["generated_tokens"], 2);
  EXPECT_TRUE(j["details"]["seed"].is_null());
  ASSERT_EQ(j["details"]["tokens"].size(), 2u);
  EXPECT_EQ(j["details"]["tokens"][0], (ordered_json{{"id", 9707}, {"text", "Hello"}, {"logprob", -0.25}, {"special", false}}));
  EXPECT_EQ(j["details"]["tokens"][1]["id"], 1879);
  EXPECT_FALSE(j["details"].contains("top_tokens"));  // not asked
}

TEST(TgiSinkTest, StreamedEventsHoldOneBackSoTheLastCarriesATokenAndTheFullText) {
  auto resp = std::make_shared<RecordingResponder>();
  TgiSink sink(resp, true, tgi_request(true, {}, "Q: "), folder().text.tokenizer);
  sink.start();
  EXPECT_TRUE(resp->began);
  EXPECT_EQ(resp->content_type, "text/event-stream");
  sink.on_output("a", token(64, "a"));
  EXPECT_TRUE(resp->chunks.empty());
  sink.on_output("b", token(65, "b"));
  sink.on_output("c", token(66, "c"));
  sink.on_finish("length", 4, 3);
  EXPECT_TRUE(resp->ended);
  const auto ev = resp->events();
  ASSERT_EQ(ev.size(), 3u);
  std::string joined;
  for (size_t i = 0; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i]["index"], i + 1);
    joined += ev[i]["token"]["text"].get<std::string>();
    EXPECT_EQ(ev[i]["token"]["id"], 64 + static_cast<int>(i));
    EXPECT_EQ(ev[i]["token"]["logprob"], -1.0);
    EXPECT_EQ(ev[i]["generated_text"].is_null(), i + 1 < ev.size());
  }
  EXPECT_EQ(joined, "abc");
  EXPECT_EQ(ev.back()["generated_text"], "Q: abc");
  EXPECT_EQ(ev.back()["details"]["finish_reason"], "length");
  EXPECT_EQ(ev.back()["details"]["generated_tokens"], 3);
}

TEST(TgiSinkTest, StreamWithoutTextStillEndsWithOneEventAndDetailsOnlyWhenAsked) {
  auto resp = std::make_shared<RecordingResponder>();
  TgiSink sink(resp, true, tgi_request(false), folder().text.tokenizer);
  sink.start();
  sink.on_finish("stop", 4, 1);
  const auto ev = resp->events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["token"]["text"], "");
  EXPECT_EQ(ev[0]["token"]["id"], -1);  // no token at all
  EXPECT_TRUE(ev[0]["token"]["logprob"].is_null());
  EXPECT_EQ(ev[0]["generated_text"], "");
  EXPECT_TRUE(ev[0]["details"].is_null());
}

TEST(TgiSinkTest, ErrorsUseTheOpenAiShape) {
  auto resp = std::make_shared<RecordingResponder>();
  TgiSink sink(resp, false, tgi_request(false), folder().text.tokenizer);
  sink.on_error(troupe_error::invalid_request, "prompt too long");
  EXPECT_EQ(resp->status, 400u);
  EXPECT_EQ(ordered_json::parse(resp->body)["error"]["message"], "prompt too long");
}

}  // namespace
}  // namespace troupe::net
