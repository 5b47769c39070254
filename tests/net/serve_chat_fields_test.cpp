// vLLM's chat fields end to end over loopback HTTP on the demo model (its real Qwen3 chat
// template): content parts, roles, max_completion_tokens and the template's inputs.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "test_server.h"

namespace troupe {
namespace {

using nlohmann::json;
using test::http_call;

class ServeChatFields : public test::ServerSuite {
 protected:
  static json chat(json body, unsigned expect_status = 200) {
    body.emplace("messages", json::array({{{"role", "user"}, {"content", "Hi there"}}}));
    const auto r = http_call(server().port(), "POST", "/v1/chat/completions", body.dump());
    EXPECT_EQ(r.status, expect_status) << body.dump() << " -> " << r.body;
    return json::parse(r.body);
  }
  static int prompt_tokens(json body) { return chat(std::move(body))["usage"]["prompt_tokens"].get<int>(); }
};

TEST_F(ServeChatFields, ContentPartsAreJoinedAndRolesChecked) {
  // Text parts joined by newlines are the same prompt as the joined string.
  const json parts = {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "Hi"}}, {{"type", "text"}, {"text", "there"}}}}};
  const json joined = {{"role", "user"}, {"content", "Hi\nthere"}};
  const json a = chat({{"messages", {parts}}, {"max_tokens", 4}, {"temperature", 0}});
  const json b = chat({{"messages", {joined}}, {"max_tokens", 4}, {"temperature", 0}});
  EXPECT_EQ(a["usage"]["prompt_tokens"], b["usage"]["prompt_tokens"]);
  EXPECT_EQ(a["choices"][0]["message"]["content"], b["choices"][0]["message"]["content"]);
  // An image part is a 400 naming it; so is a role nobody knows.
  const json image = {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "Hi"}}, {{"type", "image_url"}, {"image_url", {{"url", "x"}}}}}}};
  EXPECT_EQ(chat({{"messages", {image}}}, 400)["error"]["param"], "messages[0].content[1]");
  EXPECT_EQ(chat({{"messages", {{{"role", "wizard"}, {"content", "hi"}}}}}, 400)["error"]["param"], "messages[0].role");
  for (const char* role : {"system", "developer", "user", "assistant", "tool"})
    chat({{"messages", {{{"role", "user"}, {"content", "a"}}, {{"role", role}, {"content", "b"}}}}, {"max_tokens", 1}});
}

TEST_F(ServeChatFields, MaxCompletionTokensWinsOverMaxTokens) {
  const json r = chat({{"max_tokens", 9}, {"max_completion_tokens", 3}, {"ignore_eos", true}});
  EXPECT_EQ(r["usage"]["completion_tokens"], 3);
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(chat({{"max_completion_tokens", 0}}, 400)["error"]["param"], "max_completion_tokens");
  EXPECT_EQ(chat({{"max_completion_tokens", 100000}}, 400)["error"]["param"], "max_completion_tokens");
}

TEST_F(ServeChatFields, ChatTemplateKwargsReachTheTemplate) {
  // Qwen3's template writes an empty think block when enable_thinking is false.
  const int plain = prompt_tokens({{"max_tokens", 1}});
  const int no_thinking = prompt_tokens({{"max_tokens", 1}, {"chat_template_kwargs", {{"enable_thinking", false}}}});
  EXPECT_GT(no_thinking, plain);
  EXPECT_EQ(chat({{"chat_template_kwargs", {{"messages", 1}}}}, 400)["error"]["param"], "chat_template_kwargs.messages");
}

TEST_F(ServeChatFields, GenerationPromptAndContinueFinalMessageShapeThePrompt) {
  const json prefill = json::array({{{"role", "user"}, {"content", "Hi"}}, {{"role", "assistant"}, {"content", "Hello, I am"}}});
  const int with_prompt = prompt_tokens({{"messages", prefill}, {"max_tokens", 1}});
  const int without = prompt_tokens({{"messages", prefill}, {"max_tokens", 1}, {"add_generation_prompt", false}});
  const int continued = prompt_tokens({{"messages", prefill}, {"max_tokens", 1}, {"continue_final_message", true}});
  EXPECT_LT(without, with_prompt);
  // Continuing cuts the render right after "Hello, I am": no end-of-turn token after it.
  EXPECT_LT(continued, without);
  EXPECT_EQ(chat({{"messages", prefill}, {"continue_final_message", true}, {"add_generation_prompt", true}}, 400)["error"]["param"],
            "continue_final_message");
}

TEST_F(ServeChatFields, RequestChatTemplateOnlyBehindItsFlag) {
  const std::string bare = "{% for m in messages %}{{ m.content }}{% endfor %}";
  // This server was started without --trust-request-chat-template: a 400 naming the field, the flag
  // and the cluster file's key.
  const json refused = chat({{"chat_template", bare}}, 400);
  EXPECT_EQ(refused["error"]["param"], "chat_template");
  EXPECT_NE(refused["error"]["message"].get<std::string>().find("--trust-request-chat-template"), std::string::npos);
  EXPECT_NE(refused["error"]["message"].get<std::string>().find("[server] trust_request_chat_template = true"),
            std::string::npos);  // and a cluster head's key

  test::TestServerOptions o;
  o.folder = server().shared_folder();
  o.model = server().shared_model();
  o.field_gates.trust_request_chat_template = true;
  test::TestServer trusting(o);
  const auto post = [&](json body) {
    body.emplace("messages", json::array({{{"role", "user"}, {"content", "Hi there"}}}));
    body.emplace("max_tokens", 1);
    return http_call(trusting.port(), "POST", "/v1/chat/completions", body.dump());
  };
  // The request's template renders "Hi there" alone: its tokens and nothing of Qwen3's markup.
  const auto own = post({{"chat_template", bare}});
  ASSERT_EQ(own.status, 200u) << own.body;
  EXPECT_EQ(json::parse(own.body)["usage"]["prompt_tokens"], server().folder().text.tokenizer.encode("Hi there", false).size());
  const auto model_template = post(json::object());
  EXPECT_GT(json::parse(model_template.body)["usage"]["prompt_tokens"].get<size_t>(),
            server().folder().text.tokenizer.encode("Hi there", false).size() + 4);
  const auto broken = post({{"chat_template", "{% for m in messages %}"}});
  EXPECT_EQ(broken.status, 400u);
  EXPECT_EQ(json::parse(broken.body)["error"]["param"], "chat_template");
  // A template nested 50,000 deep is a 400, not a stack overflow; the server carries on.
  const auto deep = post({{"chat_template", "{{ " + std::string(50000, '(') + "1" + std::string(50000, ')') + " }}"}});
  EXPECT_EQ(deep.status, 400u) << deep.body.substr(0, 200);
  EXPECT_EQ(json::parse(deep.body)["error"]["param"], "chat_template");
  EXPECT_EQ(post({{"chat_template", bare}}).status, 200u);
}

}  // namespace
}  // namespace troupe
