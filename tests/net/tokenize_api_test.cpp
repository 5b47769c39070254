// The tokenize / detokenize codec (net/tokenize_api) without a server: bodies in, ids or errors
// naming the field out, with the server's own tokenizer and chat template.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api_codec_test_support.h"  // folder, ok, fails, RecordingResponder, ordered_json
#include "net/tokenize_api.h"

namespace troupe::net {
namespace {

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

TEST(TokenizeParse, MessagesAreReadAsTheChatRouteReadsThem) {
  const auto& tok = folder().text.tokenizer;
  const auto ids = [&](const ordered_json& body, const FieldGates& gates = {}) {
    return ok(parse_tokenize_request(body.dump(), folder(), "demo-model", gates)).ids;
  };
  const ordered_json joined = ordered_json::array({{{"role", "user"}, {"content", "Hi\nthere"}}});
  const ordered_json parts = ordered_json::array(
      {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "Hi"}}, {{"type", "text"}, {"text", "there"}}}}}});
  EXPECT_EQ(ids({{"messages", parts}}), ids({{"messages", joined}}));
  // chat_template_kwargs reach the template (Qwen3 writes an empty think block without thinking).
  EXPECT_GT(ids({{"messages", joined}, {"chat_template_kwargs", {{"enable_thinking", false}}}}).size(),
            ids({{"messages", joined}}).size());
  // A request's template: refused by name without --trust-request-chat-template, used with it.
  const ordered_json own = {{"messages", joined}, {"chat_template", "{% for m in messages %}{{ m.content }}{% endfor %}"}};
  fails(parse_tokenize_request(own.dump(), folder(), "demo-model"), 400, "chat_template");
  EXPECT_EQ(ids(own, FieldGates{.trust_request_chat_template = true}), tok.encode("Hi\nthere", false));
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
