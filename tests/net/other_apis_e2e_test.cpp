// TGI, Triton and tokenize routes of `troupe serve`, end to end over loopback HTTP on the demo
// model: the same greedy text as /v1/completions, streams that add up to the whole answer, and
// tokenize / detokenize round trips.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include <nlohmann/json.hpp>

#include "test_server.h"

namespace troupe {
namespace {

using nlohmann::ordered_json;
using test::http_call;

std::vector<ordered_json> sse_payloads(const std::string& body) {
  std::vector<ordered_json> out;
  for (const std::string& e : test::sse_events(body))
    if (e != "[DONE]") out.push_back(ordered_json::parse(e));
  return out;
}

class OtherApis : public test::ServerSuite {
 protected:
  static test::HttpReply call(const std::string& path, const ordered_json& body, const std::string& method = "POST") {
    return http_call(server().port(), method, path, body.dump());
  }
  static ordered_json post(const std::string& path, const ordered_json& body, unsigned expect_status = 200) {
    const auto r = call(path, body);
    EXPECT_EQ(r.status, expect_status) << path << ": " << r.body;
    return ordered_json::parse(r.body);
  }
  // What /v1/completions answers greedily: the reference text for every other shape.
  static std::string openai_greedy(const std::string& prompt, int max_tokens) {
    return post("/v1/completions", {{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}})["choices"][0]["text"];
  }
};

TEST_F(OtherApis, TgiGreedyGenerateEqualsTheOpenAiCompletion) {
  const ordered_json r = post("/generate", {{"inputs", "The capital of France is"},
                                            {"parameters", {{"max_new_tokens", 12}, {"do_sample", false}, {"details", true}}}});
  EXPECT_EQ(r["generated_text"], openai_greedy("The capital of France is", 12));
  EXPECT_EQ(r["details"]["finish_reason"], "length");
  EXPECT_EQ(r["details"]["generated_tokens"], 12);
  EXPECT_TRUE(r["details"]["seed"].is_null());
  EXPECT_FALSE(post("/generate", {{"inputs", "Hi"}, {"parameters", {{"max_new_tokens", 2}}}}).contains("details"));
}

TEST_F(OtherApis, TgiStreamTokensConcatenateToTheGeneratedText) {
  const ordered_json body = {{"inputs", "Once upon a time"}, {"parameters", {{"max_new_tokens", 10}, {"details", true}}}};
  const std::string full = post("/generate", body)["generated_text"];
  const auto r = call("/generate_stream", body);
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("Content-Type"), "text/event-stream");
  const auto events = sse_payloads(r.body);
  ASSERT_GE(events.size(), 1u);
  std::string joined;
  for (size_t i = 0; i < events.size(); ++i) {
    joined += events[i]["token"]["text"].get<std::string>();
    EXPECT_EQ(events[i]["generated_text"].is_null(), i + 1 < events.size());
  }
  EXPECT_EQ(joined, full);
  EXPECT_EQ(events.back()["generated_text"], full);
  EXPECT_EQ(events.back()["details"]["finish_reason"], "length");
  EXPECT_EQ(events.back()["details"]["generated_tokens"], 10);
}

TEST_F(OtherApis, TgiTokensCarryTheirIdsLogprobsAndTopTokens) {
  const ordered_json body = {{"inputs", "TGI tokens"},
                             {"parameters", {{"max_new_tokens", 6}, {"details", true}, {"top_n_tokens", 2}}}};
  const ordered_json r = post("/generate", body);
  const ordered_json& tokens = r["details"]["tokens"];
  ASSERT_EQ(tokens.size(), 6u);
  ASSERT_EQ(r["details"]["top_tokens"].size(), 6u);
  std::vector<int32_t> ids;
  std::string joined;
  for (size_t i = 0; i < tokens.size(); ++i) {
    SCOPED_TRACE(tokens[i].dump());
    ids.push_back(tokens[i]["id"]);
    joined += tokens[i]["text"].get<std::string>();
    EXPECT_LE(tokens[i]["logprob"].get<double>(), 0.0);
    EXPECT_EQ(tokens[i]["special"], server().folder().text.tokenizer.is_special(ids.back()));
    const ordered_json& top = r["details"]["top_tokens"][i];
    ASSERT_EQ(top.size(), 2u);
    EXPECT_EQ(top[0]["id"], tokens[i]["id"]);  // greedy: the sampled token is the most likely
    EXPECT_EQ(top[0]["logprob"], tokens[i]["logprob"]);
    EXPECT_LE(top[1]["logprob"], top[0]["logprob"]);
  }
  EXPECT_EQ(joined, r["generated_text"]);
  EXPECT_EQ(server().folder().text.tokenizer.decode(ids, true), r["generated_text"]);
  // The stream: the same ids, one event each, with their logprobs and top tokens.
  const auto events = sse_payloads(call("/generate_stream", body).body);
  ASSERT_EQ(events.size(), 6u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["token"]["id"], ids[i]) << i;
    EXPECT_NEAR(events[i]["token"]["logprob"].get<double>(), tokens[i]["logprob"].get<double>(), 1e-4) << i;
    EXPECT_EQ(events[i]["top_tokens"].size(), 2u) << i;
  }
}

TEST_F(OtherApis, TgiSampledRequestsReportTheirSeedAndTheSameSeedGivesTheSameText) {
  const ordered_json r = post("/generate", {{"inputs", "Tell me"}, {"parameters", {{"do_sample", true}, {"max_new_tokens", 8}, {"details", true}}}});
  ASSERT_TRUE(r["details"]["seed"].is_number_integer());
  const ordered_json again = post("/generate", {{"inputs", "Tell me"},
                                                {"parameters", {{"do_sample", true}, {"max_new_tokens", 8}, {"seed", r["details"]["seed"]}}}});
  EXPECT_EQ(again["generated_text"], r["generated_text"]);
}

TEST_F(OtherApis, TgiStopSequenceEndsTheTextBeforeIt) {
  const std::string full = openai_greedy("Once upon a time", 12);
  // A whole streamed delta from the middle of the answer: valid UTF-8, certainly in the text.
  const auto events = sse_payloads(call("/generate_stream", {{"inputs", "Once upon a time"}, {"parameters", {{"max_new_tokens", 12}}}}).body);
  ASSERT_GE(events.size(), 6u);
  const std::string stop = events[5]["token"]["text"];
  ASSERT_NE(full.find(stop), std::string::npos);
  const ordered_json r = post("/generate", {{"inputs", "Once upon a time"},
                                            {"parameters", {{"max_new_tokens", 12}, {"stop", {stop}}, {"details", true}}}});
  EXPECT_EQ(r["generated_text"], full.substr(0, full.find(stop)));
  EXPECT_EQ(r["details"]["finish_reason"], "stop_sequence");
}

TEST_F(OtherApis, TgiErrorsAreOpenAiShapedAndNameTheField) {
  const ordered_json e = post("/generate", {{"inputs", "Hi"}, {"parameters", {{"top_p", 2}}}}, 400);
  EXPECT_EQ(e["error"]["param"], "parameters.top_p");
  EXPECT_EQ(post("/generate_stream", {{"parameters", ordered_json::object()}}, 400)["error"]["param"], "inputs");
  EXPECT_EQ(call("/generate", ordered_json::object(), "GET").status, 405u);
}

TEST_F(OtherApis, TritonGenerateEqualsTheOpenAiCompletion) {
  const ordered_json r = post("/v2/models/demo-model/generate",
                              {{"text_input", "The capital of France is"}, {"parameters", {{"max_tokens", 12}, {"temperature", 0}}}});
  EXPECT_EQ(r["model_name"], "demo-model");
  EXPECT_EQ(r["model_version"], "1");
  EXPECT_EQ(r["text_output"], openai_greedy("The capital of France is", 12));
  const ordered_json v = post("/v2/models/demo-model/versions/1/generate",
                              {{"text_input", "The capital of France is"}, {"max_tokens", 12}, {"temperature", 0}});
  EXPECT_EQ(v["text_output"], r["text_output"]);
}

TEST_F(OtherApis, TritonStreamDeltasConcatenateToTheWholeOutput) {
  const ordered_json body = {{"text_input", "Once upon a time"}, {"parameters", {{"max_tokens", 10}, {"temperature", 0}}}};
  const std::string full = post("/v2/models/demo-model/generate", body)["text_output"];
  const auto r = call("/v2/models/demo-model/generate_stream", body);
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("Content-Type"), "text/event-stream");
  const auto events = sse_payloads(r.body);
  ASSERT_GE(events.size(), 1u);
  std::string joined;
  for (const auto& e : events) {
    EXPECT_EQ(e["model_name"], "demo-model");
    joined += e["text_output"].get<std::string>();
  }
  EXPECT_EQ(joined, full);
}

TEST_F(OtherApis, TritonUnknownModelIs404) {
  EXPECT_EQ(post("/v2/models/nope/generate", {{"text_input", "Hi"}}, 404)["error"]["param"], "model_name");
  EXPECT_EQ(post("/v2/models/demo-model/versions/3/generate_stream", {{"text_input", "Hi"}}, 404)["error"]["param"],
            "model_version");
  EXPECT_EQ(post("/v2/models/demo-model/generate", {{"text_input", "Hi"}, {"parameters", {{"top_k", "a"}}}}, 400)["error"]["param"],
            "parameters.top_k");
}

TEST_F(OtherApis, TokenizeThenDetokenizeRoundTrips) {
  const std::string text = "Hello, world! 你好 12345";
  const ordered_json t = post("/tokenize", {{"prompt", text}, {"add_special_tokens", false}});
  EXPECT_EQ(t["count"], t["tokens"].size());
  EXPECT_EQ(t["max_model_len"], server().folder().config.max_position_embeddings);
  EXPECT_EQ(t["tokens"].get<std::vector<int32_t>>(), server().folder().text.tokenizer.encode(text, false));
  EXPECT_EQ(post("/detokenize", {{"tokens", t["tokens"]}})["prompt"], text);
  const ordered_json chat = post("/tokenize", {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"return_token_strs", true}});
  EXPECT_EQ(chat["token_strs"].size(), chat["tokens"].size());
  const auto strs = chat["token_strs"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(strs.begin(), strs.end(), "<|im_start|>"), strs.end()) << chat.dump();  // the template's markers
}

TEST_F(OtherApis, DetokenizeRejectsIdsOutsideTheVocabulary) {
  const ordered_json e = post("/detokenize", {{"tokens", {1, 1 << 30}}}, 400);
  EXPECT_EQ(e["error"]["param"], "tokens");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_EQ(post("/tokenize", {{"prompt", 1}}, 400)["error"]["param"], "prompt");
  EXPECT_EQ(call("/tokenize", ordered_json::object(), "GET").status, 405u);
}

// --request-timeout cuts a request short (gateway reason "abort"); Triton's generate extension has
// no finish reason to say so, so the answer is its error object: a 503 for /generate, a last
// {"error"} event for /generate_stream (net/README.md).
TEST(TritonTimeout, ACutRequestAnswersTheExtensionsErrorNotAShortText) {
  test::TestServerOptions o;
  o.request_timeout = std::chrono::seconds(1);
  test::TestServer server(o);
  const ordered_json body = {{"text_input", "never ending"}, {"max_tokens", 4000}, {"temperature", 0}, {"ignore_eos", true}};
  const auto whole = http_call(server.port(), "POST", "/v2/models/demo-model/generate", body.dump());
  EXPECT_EQ(whole.status, 503u) << whole.body;
  const ordered_json e = ordered_json::parse(whole.body);
  ASSERT_TRUE(e.contains("error")) << whole.body;
  EXPECT_TRUE(e["error"].is_string()) << whole.body;
  EXPECT_FALSE(e.contains("text_output")) << whole.body;

  const auto streamed = http_call(server.port(), "POST", "/v2/models/demo-model/generate_stream", body.dump());
  EXPECT_EQ(streamed.status, 200u);
  const auto events = sse_payloads(streamed.body);
  ASSERT_GE(events.size(), 2u) << streamed.body;  // some text, then the error
  EXPECT_TRUE(events.front().contains("text_output"));
  EXPECT_TRUE(events.back().contains("error") && events.back()["error"].is_string()) << events.back().dump();
  EXPECT_FALSE(events.back().contains("text_output"));

  // A request that finishes in time is still a plain 200 answer.
  const auto quick = http_call(server.port(), "POST", "/v2/models/demo-model/generate",
                               ordered_json{{"text_input", "Hi"}, {"max_tokens", 2}}.dump());
  EXPECT_EQ(quick.status, 200u);
  EXPECT_TRUE(ordered_json::parse(quick.body).contains("text_output"));
}

}  // namespace
}  // namespace troupe
