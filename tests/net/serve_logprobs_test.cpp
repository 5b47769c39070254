// logprobs / top_logprobs of `troupe serve`, end to end over loopback HTTP on the demo model
// (two plans in flight, so the scheduler matches each accepted token to its plan entry): OpenAI
// completions and chat, non-streamed and streamed, aligned with the text actually sent around a
// stop string, and the 400s for bad values.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "engine/model/sequence_generator.h"
#include "engine/tokenizer/incremental_detokenizer.h"
#include "test_server.h"

namespace troupe {
namespace {

using nlohmann::ordered_json;  // ordered: top_logprobs dicts keep the server's order
using test::http_call;

// Logprobs of separate requests may differ in the last bits: a prefix-cache hit computes the
// prompt's tail in GEMMs of another height (see docs/architecture.md, "Batching and bits").
constexpr double kTolerance = 1e-4;

int64_t code_points(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

class ServeLogprobs : public test::ServerSuite {
 protected:
  static const Tokenizer& tokenizer() { return server().folder().text.tokenizer; }
  static ordered_json post(const std::string& path, const ordered_json& body, unsigned expect_status = 200) {
    const auto r = http_call(server().port(), "POST", path, body.dump());
    EXPECT_EQ(r.status, expect_status) << path << " " << body.dump() << " -> " << r.body;
    return ordered_json::parse(r.body);
  }
  // The chunks of a streamed answer, [DONE] left out (it must be last).
  static std::vector<ordered_json> stream(const std::string& path, ordered_json body) {
    body["stream"] = true;
    const auto r = http_call(server().port(), "POST", path, body.dump());
    EXPECT_EQ(r.status, 200u) << r.body;
    const auto events = test::sse_events(r.body);
    EXPECT_EQ(events.back(), "[DONE]");
    std::vector<ordered_json> out;
    for (size_t i = 0; i + 1 < events.size(); ++i) out.push_back(ordered_json::parse(events[i]));
    return out;
  }
  // The greedy tokens of the prompt alone: what the server must sample.
  static std::vector<int32_t> greedy_ids(const std::string& prompt, int max_tokens) {
    const ModelFolder& f = server().folder();
    SamplingParams p;
    p.temperature = 0.0f;
    p.max_tokens = max_tokens;
    p.ignore_eos = true;  // the requests below ask for it too: counts are exact
    return SequenceGenerator(server().model(), {.block_size = 16, .prefill_chunk = 0, .eos_token_ids = f.eos_token_ids})
        .generate(tokenizer().encode(prompt, true), p)
        .ids;
  }
  static std::string name(int32_t id) { return tokenizer().decode(std::span(&id, 1)); }
};

// Appends a completions logprobs object's lists to `all` (a chunk's to the ones before).
void append_completion_logprobs(ordered_json& all, const ordered_json& lp) {
  for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"})
    for (const auto& v : lp.at(key)) all[key].push_back(v);
}

void expect_close_logprobs(const ordered_json& a, const ordered_json& b) {
  EXPECT_EQ(a["tokens"], b["tokens"]);
  EXPECT_EQ(a["text_offset"], b["text_offset"]);
  ASSERT_EQ(a["token_logprobs"].size(), b["token_logprobs"].size());
  for (size_t i = 0; i < a["token_logprobs"].size(); ++i) {
    EXPECT_NEAR(a["token_logprobs"][i].get<double>(), b["token_logprobs"][i].get<double>(), kTolerance) << i;
    ASSERT_EQ(a["top_logprobs"][i].size(), b["top_logprobs"][i].size()) << i;
    for (const auto& [text, lp] : a["top_logprobs"][i].items())
      EXPECT_NEAR(lp.get<double>(), b["top_logprobs"][i].at(text).get<double>(), kTolerance) << i << " " << text;
  }
}

TEST_F(ServeLogprobs, GreedyCompletionsTopAlternativeIsTheSampledToken) {
  const std::string prompt = "Logprobs, greedy completion:";
  const ordered_json r = post("/v1/completions",
                              {{"prompt", prompt}, {"max_tokens", 8}, {"temperature", 0}, {"ignore_eos", true}, {"logprobs", 5}});
  const ordered_json& lp = r["choices"][0]["logprobs"];
  const std::vector<int32_t> ids = greedy_ids(prompt, 8);
  ASSERT_EQ(r["usage"]["completion_tokens"], 8);
  ASSERT_EQ(ids.size(), 8u);
  for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"}) ASSERT_EQ(lp[key].size(), 8u) << key;
  int64_t previous_offset = 0;
  for (size_t i = 0; i < 8; ++i) {
    SCOPED_TRACE("token " + std::to_string(i));
    EXPECT_EQ(lp["tokens"][i], name(ids[i]));
    const double sampled = lp["token_logprobs"][i];
    EXPECT_LE(sampled, 0.0);
    const ordered_json& top = lp["top_logprobs"][i];
    ASSERT_GE(top.size(), 1u);
    EXPECT_LE(top.size(), 5u);  // alternatives that decode to the same text share one key
    EXPECT_EQ(top.begin().key(), lp["tokens"][i]);  // greedy: the sampled token is the most likely
    EXPECT_EQ(top.begin().value().get<double>(), sampled);
    double before = 0.0;
    for (const auto& [text, value] : top.items()) {
      EXPECT_LE(value.get<double>(), before) << text;  // most likely first, all <= 0
      before = value;
    }
    const int64_t offset = lp["text_offset"][i];
    EXPECT_GE(offset, previous_offset);
    EXPECT_LE(offset, code_points(r["choices"][0]["text"]));
    previous_offset = offset;
  }
  EXPECT_EQ(lp["text_offset"][0], 0);
  // Asked with 0: the sampled token's logprob, no alternatives.
  const ordered_json zero = post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 3}, {"temperature", 0}, {"logprobs", 0}});
  ASSERT_EQ(zero["choices"][0]["logprobs"]["top_logprobs"].size(), 3u);
  for (const auto& top : zero["choices"][0]["logprobs"]["top_logprobs"]) EXPECT_TRUE(top.empty());
  // Not asked: null, as before.
  EXPECT_TRUE(post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 2}})["choices"][0]["logprobs"].is_null());
}

TEST_F(ServeLogprobs, StreamedCompletionLogprobsConcatenateToTheNonStreamedOnes) {
  const ordered_json body = {{"prompt", "Logprobs, streamed:"}, {"max_tokens", 10}, {"temperature", 0}, {"logprobs", 3},
                             {"n", 2}};
  const ordered_json full = post("/v1/completions", body);
  ordered_json got[2];
  std::string text[2];
  for (const ordered_json& chunk : stream("/v1/completions", body)) {
    const ordered_json& c = chunk["choices"][0];
    const int index = c["index"];
    text[index] += c["text"].get<std::string>();
    if (c["finish_reason"].is_null()) append_completion_logprobs(got[index], c["logprobs"]);
    else EXPECT_TRUE(c["logprobs"].is_null());
  }
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE("choice " + std::to_string(i));
    EXPECT_EQ(text[i], full["choices"][i]["text"]);
    ASSERT_EQ(got[i]["tokens"].size(), 10u);
    expect_close_logprobs(got[i], full["choices"][i]["logprobs"]);
  }
}

TEST_F(ServeLogprobs, ChatLogprobsHaveOpenAIsShapeStreamedOrNot) {
  const ordered_json body = {{"messages", {{{"role", "user"}, {"content", "Logprobs in chat"}}}}, {"max_tokens", 6},
                             {"temperature", 0}, {"logprobs", true}, {"top_logprobs", 3}};
  const ordered_json full = post("/v1/chat/completions", body);
  const ordered_json& content = full["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), full["usage"]["completion_tokens"].get<size_t>());
  for (const ordered_json& e : content) {
    SCOPED_TRACE(e.dump());
    ASSERT_TRUE(e["token"].is_string());
    ASSERT_LE(e["logprob"].get<double>(), 0.0);
    ASSERT_TRUE(e["bytes"].is_array());
    for (const auto& b : e["bytes"]) EXPECT_TRUE(b.is_number_unsigned() && b.get<int>() < 256);
    ASSERT_EQ(e["top_logprobs"].size(), 3u);
    EXPECT_EQ(e["top_logprobs"][0]["token"], e["token"]);
    EXPECT_EQ(e["top_logprobs"][0]["logprob"], e["logprob"]);
    EXPECT_EQ(e["top_logprobs"][0]["bytes"], e["bytes"]);
    for (size_t k = 1; k < 3; ++k) EXPECT_LE(e["top_logprobs"][k]["logprob"], e["top_logprobs"][k - 1]["logprob"]);
  }
  // Streamed: each content chunk carries its tokens' entries; together they are the full list.
  ordered_json streamed = ordered_json::array();
  for (const ordered_json& chunk : stream("/v1/chat/completions", body)) {
    const ordered_json& c = chunk["choices"][0];
    if (!c["delta"].contains("content") || c["delta"].contains("role")) {
      EXPECT_TRUE(c["logprobs"].is_null()) << chunk.dump();  // the role chunk and the final one
      continue;
    }
    for (const auto& e : c["logprobs"]["content"]) streamed.push_back(e);
  }
  ASSERT_EQ(streamed.size(), content.size());
  for (size_t i = 0; i < content.size(); ++i) {
    EXPECT_EQ(streamed[i]["token"], content[i]["token"]) << i;
    EXPECT_NEAR(streamed[i]["logprob"].get<double>(), content[i]["logprob"].get<double>(), kTolerance) << i;
  }
  // logprobs: true alone: the sampled tokens only.
  ordered_json plain = body;
  plain.erase("top_logprobs");
  for (const auto& e : post("/v1/chat/completions", plain)["choices"][0]["logprobs"]["content"])
    EXPECT_TRUE(e["top_logprobs"].empty());
  plain["logprobs"] = false;
  EXPECT_TRUE(post("/v1/chat/completions", plain)["choices"][0]["logprobs"].is_null());
}

TEST_F(ServeLogprobs, StopStringKeepsLogprobsAlignedWithTheTextSent) {
  // The demo model repeats itself ("נס" five times, then "=}"): a stop string made of the last
  // character of one token and the first of the next cuts a token in two, and its characters
  // take two bytes each, so text_offset (code points) differs from byte offsets.
  const std::string prompt = "A stop test";
  const std::vector<int32_t> ids = greedy_ids(prompt, 16);
  // Where each token's text starts in the output (the gateway's incremental detokenizing).
  IncrementalDetokenizer detok(tokenizer(), true);
  std::string text;
  std::vector<std::string> pieces;
  std::vector<size_t> starts;
  for (int32_t id : ids) {
    starts.push_back(text.size());
    text += pieces.emplace_back(detok.push(id));
  }
  size_t boundary = 1;
  while (boundary < ids.size() && pieces[boundary] == pieces[0]) ++boundary;
  ASSERT_LT(boundary, ids.size()) << text;
  ASSERT_FALSE(pieces[boundary].empty()) << text;
  size_t last_char = starts[boundary] - 1;
  while ((static_cast<unsigned char>(text[last_char]) & 0xC0) == 0x80) --last_char;
  size_t next_char_end = starts[boundary] + 1;
  while ((static_cast<unsigned char>(text[next_char_end]) & 0xC0) == 0x80) ++next_char_end;
  const std::string stop = text.substr(last_char, next_char_end - last_char);
  const size_t cut = text.find(stop);
  ASSERT_GT(cut, 0u);
  size_t expected = 0;  // tokens whose text begins before the stop string; the last is cut short
  while (expected < ids.size() && starts[expected] < cut) ++expected;
  const ordered_json body = {{"prompt", prompt}, {"max_tokens", 16}, {"temperature", 0}, {"ignore_eos", true},
                             {"stop", {stop}}, {"logprobs", 1}};
  const ordered_json full = post("/v1/completions", body);
  EXPECT_EQ(full["choices"][0]["text"], text.substr(0, cut));
  const ordered_json& lp = full["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), expected) << "stop '" << stop << "' in " << text;
  EXPECT_LT(cut, starts[expected - 1] + pieces[expected - 1].size());  // the last one is cut
  for (size_t i = 0; i < expected; ++i) {
    EXPECT_EQ(lp["tokens"][i], name(ids[i])) << i;
    EXPECT_EQ(lp["text_offset"][i], code_points(text.substr(0, starts[i]))) << i;
  }
  ordered_json streamed;
  for (const ordered_json& chunk : stream("/v1/completions", body))
    if (chunk["choices"][0]["finish_reason"].is_null()) append_completion_logprobs(streamed, chunk["choices"][0]["logprobs"]);
  expect_close_logprobs(streamed, lp);
}

struct BadLogprobs {
  std::string path, body, param;
};

TEST_F(ServeLogprobs, BadValuesAre400sNamingTheField) {
  const std::string chat = R"("messages": [{"role": "user", "content": "hi"}])";
  const std::vector<BadLogprobs> cases = {
      {"/v1/completions", R"({"prompt": "x", "logprobs": 21})", "logprobs"},
      {"/v1/completions", R"({"prompt": "x", "logprobs": -1})", "logprobs"},
      {"/v1/completions", R"({"prompt": "x", "logprobs": "5"})", "logprobs"},
      {"/v1/completions", R"({"prompt": "x", "logprobs": true})", "logprobs"},
      {"/v1/completions", R"({"prompt": "x", "logprobs": 2.5})", "logprobs"},
      {"/v1/completions", R"({"prompt": "x", "logprobs": 18446744073709551615})", "logprobs"},
      {"/v1/completions", R"({"prompt": "x", "top_logprobs": 2})", "top_logprobs"},
      {"/v1/chat/completions", "{" + chat + R"(, "logprobs": 5})", "logprobs"},
      {"/v1/chat/completions", "{" + chat + R"(, "top_logprobs": 2})", "top_logprobs"},
      {"/v1/chat/completions", "{" + chat + R"(, "logprobs": false, "top_logprobs": 2})", "top_logprobs"},
      {"/v1/chat/completions", "{" + chat + R"(, "logprobs": true, "top_logprobs": 21})", "top_logprobs"},
      {"/v1/chat/completions", "{" + chat + R"(, "logprobs": true, "top_logprobs": "3"})", "top_logprobs"},
      {"/generate", R"({"inputs": "x", "parameters": {"top_n_tokens": 21}})", "parameters.top_n_tokens"},
  };
  for (const auto& c : cases) {
    const auto r = http_call(server().port(), "POST", c.path, c.body);
    EXPECT_EQ(r.status, 400u) << c.path << " " << c.body << " -> " << r.body;
    const ordered_json j = ordered_json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r.body;
    EXPECT_EQ(j["error"]["code"], 400);
    EXPECT_EQ(j["error"]["type"], "invalid_request_error");
    EXPECT_EQ(j["error"]["param"], c.param) << c.body << " -> " << r.body;
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
  }
  // The edges of the ranges are fine, and the server carries on.
  post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 1}, {"logprobs", 20}});
  EXPECT_TRUE(post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 1}, {"logprobs", false}})["choices"][0]["logprobs"].is_null());
  post("/v1/chat/completions", ordered_json::parse("{" + chat + R"(, "max_tokens": 1, "logprobs": true, "top_logprobs": 20})"));
  post("/v1/chat/completions", ordered_json::parse("{" + chat + R"(, "max_tokens": 1, "logprobs": false, "top_logprobs": null})"));
}

}  // namespace
}  // namespace troupe
