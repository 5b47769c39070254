// The TGI, Triton and tokenize codecs without a server: bodies in, request values or errors
// naming the field out; response bodies, stream events and sinks against a recording responder.
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "net/tgi_api.h"
#include "net/tokenize_api.h"
#include "net/triton_api.h"

namespace troupe::net {
namespace {

using nlohmann::ordered_json;

const ModelFolder& folder() {
  static const ModelFolder f = open_model_folder(std::string(TROUPE_CACHE_DIR) + "/demo-model");
  return f;
}

template <class T>
T ok(const std::variant<T, ApiError>& v) {
  if (const auto* e = std::get_if<ApiError>(&v)) ADD_FAILURE() << e->body();
  return std::get<T>(v);
}

// The error a parse must give; its body must name `param`.
template <class T>
ApiError fails(const std::variant<T, ApiError>& v, unsigned status, const std::string& param) {
  EXPECT_TRUE(std::holds_alternative<ApiError>(v)) << "expected an error naming " << param;
  if (!std::holds_alternative<ApiError>(v)) return {};
  const ApiError& e = std::get<ApiError>(v);
  EXPECT_EQ(e.status, status) << e.body();
  EXPECT_EQ(e.param, param) << e.body();
  const ordered_json named = ordered_json::parse(e.body())["error"]["param"];
  EXPECT_EQ(named, param.empty() ? ordered_json(nullptr) : ordered_json(param));
  return e;
}

// What a sink did to its HTTP response.
struct RecordingResponder : HttpResponder {
  unsigned status = 0;
  std::string content_type, body;
  std::vector<std::string> chunks;
  bool began = false, ended = false;
  void reply(unsigned s, std::string type, std::string b, std::map<std::string, std::string>) override {
    status = s, content_type = std::move(type), body = std::move(b);
  }
  void begin_stream(unsigned s, std::string type) override { status = s, content_type = std::move(type), began = true; }
  void write(std::string chunk) override { chunks.push_back(std::move(chunk)); }
  void end_stream() override { ended = true; }
  void on_disconnect(std::function<void()>) override {}
  // The JSON payloads of the SSE chunks written.
  std::vector<ordered_json> events() const {
    std::vector<ordered_json> out;
    for (const auto& c : chunks) {
      EXPECT_EQ(c.rfind("data: ", 0), 0u) << c;
      EXPECT_EQ(c.substr(c.size() - 2), "\n\n");
      out.push_back(ordered_json::parse(c.substr(6)));
    }
    return out;
  }
};

std::variant<TgiRequest, ApiError> tgi(const ordered_json& body) { return parse_tgi_request(body.dump(), folder()); }

// ---- TGI ---------------------------------------------------------------------------------

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
  sink.on_error("prompt too long");
  EXPECT_EQ(resp->status, 400u);
  EXPECT_EQ(ordered_json::parse(resp->body)["error"]["message"], "prompt too long");
}

// ---- Triton ------------------------------------------------------------------------------

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

// ---- tokenize / detokenize ---------------------------------------------------------------

TEST(TokenizeParse, PromptAndMessagesUseTheServersTokenizerAndTemplate) {
  const auto& tok = folder().text.tokenizer;
  EXPECT_EQ(ok(parse_tokenize_request(R"({"prompt": "Hello world"})", folder(), "demo-model")).ids, tok.encode("Hello world", true));
  EXPECT_EQ(ok(parse_tokenize_request(R"({"prompt": "Hello", "add_special_tokens": false, "model": "demo-model"})", folder(), "demo-model")).ids,
            tok.encode("Hello", false));
  const ordered_json msgs = ordered_json::array({{{"role", "user"}, {"content", "Hi"}}});
  const Tokenized chat = ok(parse_tokenize_request(ordered_json{{"messages", msgs}}.dump(), folder(), "demo-model"));
  EXPECT_EQ(chat.ids, tok.encode(folder().text.render_chat(msgs, true), false));
  EXPECT_FALSE(chat.return_token_strs);
  EXPECT_TRUE(ok(parse_tokenize_request(R"({"prompt": "a", "return_token_strs": true})", folder(), "demo-model")).return_token_strs);
}

TEST(TokenizeParse, ErrorsNameTheField) {
  fails(parse_tokenize_request("{}", folder(), "demo-model"), 400, "prompt");
  fails(parse_tokenize_request(R"({"prompt": "a", "messages": []})", folder(), "demo-model"), 400, "messages");
  fails(parse_tokenize_request(R"({"prompt": 5})", folder(), "demo-model"), 400, "prompt");
  fails(parse_tokenize_request(R"({"messages": []})", folder(), "demo-model"), 400, "messages");
  fails(parse_tokenize_request(R"({"messages": [{"content": "x"}]})", folder(), "demo-model"), 400, "messages[0].role");
  fails(parse_tokenize_request(R"({"prompt": "a", "add_special_tokens": 1})", folder(), "demo-model"), 400, "add_special_tokens");
  fails(parse_tokenize_request(R"({"prompt": "a", "model": "gpt-4"})", folder(), "demo-model"), 404, "model");
}

TEST(DetokenizeParse, IdsMustBeInTheVocabulary) {
  EXPECT_EQ(ok(parse_detokenize_request(R"({"tokens": [1, 2, 3]})", folder(), "demo-model")), (std::vector<int32_t>{1, 2, 3}));
  EXPECT_TRUE(ok(parse_detokenize_request(R"({"tokens": []})", folder(), "demo-model")).empty());
  const std::string past = std::to_string(folder().text.tokenizer.vocab_size());
  const ApiError e = fails(parse_detokenize_request(R"({"tokens": [1, )" + past + "]}", folder(), "demo-model"), 400, "tokens");
  EXPECT_NE(e.message.find(past), std::string::npos);
  fails(parse_detokenize_request(R"({"tokens": [-1]})", folder(), "demo-model"), 400, "tokens");
  fails(parse_detokenize_request(R"({"tokens": [1.5]})", folder(), "demo-model"), 400, "tokens");
  fails(parse_detokenize_request(R"({"tokens": "1 2"})", folder(), "demo-model"), 400, "tokens");
  fails(parse_detokenize_request(R"({})", folder(), "demo-model"), 400, "tokens");
}

TEST(TokenizeFormat, Shapes) {
  EXPECT_EQ(tokenize_response({5, 6}, 4096, std::nullopt), R"({"count":2,"max_model_len":4096,"tokens":[5,6]})");
  EXPECT_EQ(ordered_json::parse(tokenize_response({5}, 8, std::vector<std::string>{"a"}))["token_strs"][0], "a");
  EXPECT_EQ(detokenize_response("hi"), R"({"prompt":"hi"})");
}

}  // namespace
}  // namespace troupe::net
