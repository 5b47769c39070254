// The request parse alone (no server): fields whose effect is on the prompt, shown with
// tokenizers and templates the demo model does not have — Llama 3's BOS, and a template that
// prints the tools and documents it is given.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "net/openai_api.h"

namespace troupe::net {
namespace {

using nlohmann::json;

// The llama-3-8b folder with the post-processor Meta's tokenizer.json has (the test copy has
// ByteLevel only): TemplateProcessing puts <|begin_of_text|> first when special tokens are added.
const ModelFolder& llama() {
  static const ModelFolder f = [] {
    ModelFolder m = open_model_folder(std::string(TROUPE_CACHE_DIR) + "/llama-3-8b");
    std::ifstream in(m.dir / "tokenizer.json");
    json spec = json::parse(in);
    spec["post_processor"] = json::parse(R"({"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [], "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [128000], "tokens": ["<|begin_of_text|>"]}}})");
    const auto path = std::filesystem::temp_directory_path() / ("chat_fields_test_" + std::to_string(getpid()) + ".json");
    std::ofstream(path) << spec.dump();
    m.text.tokenizer = Tokenizer::from_file(path);
    std::filesystem::remove(path);
    return m;
  }();
  return f;
}

std::variant<CompletionRequest, ApiError> parse(ApiKind kind, const ModelFolder& m, const json& body) {
  return parse_completion_request(kind, body.dump(), m, "m");
}

std::vector<int32_t> prompt_of(ApiKind kind, const ModelFolder& m, const json& body) {
  auto r = parse(kind, m, body);
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << e->body();
  return std::get<CompletionRequest>(r).prompts.at(0).ids;
}

TEST(ChatFields, AddSpecialTokensControlsTheBos) {
  constexpr int32_t kBos = 128000;  // <|begin_of_text|>
  EXPECT_EQ(prompt_of(ApiKind::Completion, llama(), {{"prompt", "Hi"}}).front(), kBos);
  EXPECT_NE(prompt_of(ApiKind::Completion, llama(), {{"prompt", "Hi"}, {"add_special_tokens", false}}).front(), kBos);
  // Chat: off by default, as Llama 3's template writes the BOS itself; on, a second one comes first.
  const json messages = json::array({{{"role", "user"}, {"content", "Hi"}}});
  const auto chat = prompt_of(ApiKind::Chat, llama(), {{"messages", messages}});
  const auto added = prompt_of(ApiKind::Chat, llama(), {{"messages", messages}, {"add_special_tokens", true}});
  EXPECT_EQ(chat.front(), kBos);
  ASSERT_EQ(added.size(), chat.size() + 1);
  EXPECT_EQ(added[0], kBos);
  EXPECT_EQ(std::vector<int32_t>(added.begin() + 1, added.end()), chat);
}

TEST(ChatFields, TemplateInputsReachTheTemplate) {
  ModelFolder m = llama();
  m.text.chat_template = ChatTemplate::parse(
      "{% for d in documents or [] %}[doc {{ d.title }}]{% endfor %}"
      "{% for t in tools or [] %}[tool {{ t.function.name }}]{% endfor %}{{ greeting | default('') }}"
      "{% for msg in messages %}{{ msg.content }}{% endfor %}");
  auto rendered = [&](json extra) {
    json body = {{"messages", json::array({{{"role", "user"}, {"content", "Q"}}})}};
    if (extra.is_object()) body.update(extra);
    return m.text.tokenizer.decode(prompt_of(ApiKind::Chat, m, body), false);
  };
  EXPECT_EQ(rendered({}), "Q");
  EXPECT_EQ(rendered({{"documents", {{{"title", "A"}, {"text", "x"}}}}}), "[doc A]Q");
  EXPECT_EQ(rendered({{"tools", {{{"type", "function"}, {"function", {{"name", "f"}}}}}}, {"tool_choice", "none"}}), "[tool f]Q");
  EXPECT_EQ(rendered({{"chat_template_kwargs", {{"greeting", "hey "}}}}), "hey Q");
  // Tools without tool_choice "none" would need a tool parser: 400s naming tool_choice.
  const json tools = {{"messages", json::array({{{"role", "user"}, {"content", "Q"}}})},
                      {"tools", {{{"type", "function"}, {"function", {{"name", "f"}}}}}}};
  json with_auto = tools;
  with_auto["tool_choice"] = "auto";
  for (const json& body : {tools, with_auto}) {
    auto r = parse(ApiKind::Chat, m, body);
    ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << body.dump();
    EXPECT_EQ(std::get<ApiError>(r).param, "tool_choice");
  }
}

}  // namespace
}  // namespace troupe::net
