// A body nested 100,000 levels deep, sent over HTTP to every route that takes a body: the server
// answers 400 naming the limit, stays up, and answers the next ordinary request as before. Such a
// body (25,000 levels were enough) used to overflow the stack and kill the server with SIGSEGV.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_server.h"

namespace troupe {
namespace {

using nlohmann::ordered_json;
using test::http_call;

constexpr int kLevels = 100000;

std::string deep_value(bool objects) {
  std::string s;
  for (int i = 0; i < kLevels; ++i) s += objects ? "{\"a\":" : "[";
  s += "1";
  for (int i = 0; i < kLevels; ++i) s += objects ? '}' : ']';
  return s;
}

struct Route {
  std::string path;
  std::string deep_body;  // '@' is where the deep value goes: a field the route reads
};

const std::vector<Route>& routes() {
  static const std::vector<Route> r = {
      {"/v1/completions", R"({"prompt": "hi", "stop": @})"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "hi", "x": @}]})"},
      {"/generate", R"({"inputs": "hi", "parameters": @})"},
      {"/generate_stream", R"({"inputs": "hi", "parameters": @})"},
      {"/v2/models/demo-model/generate", R"({"text_input": "hi", "parameters": @})"},
      {"/v2/models/demo-model/generate_stream", R"({"text_input": @})"},
      {"/tokenize", R"({"model": @, "prompt": "hi"})"},
      {"/detokenize", R"({"tokens": @})"},
  };
  return r;
}

class ServeDeepJson : public test::ServerSuite, public ::testing::WithParamInterface<bool> {};
class ServeAtDepthLimit : public test::ServerSuite {};

TEST_P(ServeDeepJson, EveryRouteAnswers400NamingTheLimitAndKeepsServing) {
  const std::string value = deep_value(GetParam());
  for (const Route& route : routes()) {
    std::string body = route.deep_body;
    body.replace(body.find('@'), 1, value);
    const auto r = http_call(server().port(), "POST", route.path, body);
    EXPECT_EQ(r.status, 400u) << route.path << ": " << r.body.substr(0, 300);
    const ordered_json e = ordered_json::parse(r.body, nullptr, false);
    ASSERT_TRUE(e.is_object()) << route.path << ": " << r.body.substr(0, 300);
    EXPECT_EQ(e["error"]["message"], "the body nests deeper than 64 levels") << route.path;
    EXPECT_LT(r.body.size(), 1000u) << route.path << ": the answer does not echo the body";
  }
  // Still serving, and answering as before the deep bodies came.
  const auto& tokenizer = server().folder().text.tokenizer;
  const auto tokenized = http_call(server().port(), "POST", "/tokenize", R"({"prompt": "Hello world"})");
  ASSERT_EQ(tokenized.status, 200u) << tokenized.body;
  EXPECT_EQ(ordered_json::parse(tokenized.body)["tokens"].get<std::vector<int32_t>>(), tokenizer.encode("Hello world", true));
  const auto chat = http_call(server().port(), "POST", "/v1/chat/completions",
                              R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "ignore_eos": true})");
  ASSERT_EQ(chat.status, 200u) << chat.body;
  EXPECT_EQ(ordered_json::parse(chat.body)["usage"]["completion_tokens"], 3);
  const auto tgi = http_call(server().port(), "POST", "/generate",
                             R"({"inputs": "hi", "parameters": {"max_new_tokens": 2, "details": true}})");
  ASSERT_EQ(tgi.status, 200u) << tgi.body;
  EXPECT_EQ(ordered_json::parse(tgi.body)["details"]["generated_tokens"], 2);
  const auto triton = http_call(server().port(), "POST", "/v2/models/demo-model/generate",
                                R"({"text_input": "hi", "max_tokens": 2})");
  ASSERT_EQ(triton.status, 200u) << triton.body;
  EXPECT_TRUE(ordered_json::parse(triton.body)["text_output"].is_string());
}

// The limit is on depth, not on what a real request holds: a chat message at the deepest level
// allowed still renders through the chat template (whose own limit counts the same levels).
TEST_F(ServeAtDepthLimit, ABodyAtTheLimitIsServed) {
  // body (1) > messages (2) > message (3) > "x": 61 more levels = 64 in all.
  std::string x = "1";
  for (int i = 0; i < 61; ++i) x = "[" + x + "]";
  const std::string body = R"({"messages": [{"role": "user", "content": "hi", "x": )" + x + R"(}], "max_tokens": 1})";
  const auto r = http_call(server().port(), "POST", "/v1/chat/completions", body);
  EXPECT_EQ(r.status, 200u) << r.body;
  const auto deeper = http_call(server().port(), "POST", "/v1/chat/completions",
                                R"({"messages": [{"role": "user", "content": "hi", "x": [)" + x + R"(]}], "max_tokens": 1})");
  EXPECT_EQ(deeper.status, 400u) << deeper.body;
}

INSTANTIATE_TEST_SUITE_P(ArraysAndObjects, ServeDeepJson, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Objects" : "Arrays"; });

}  // namespace
}  // namespace troupe
