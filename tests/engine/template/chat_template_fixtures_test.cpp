// The real Qwen3 and Llama 3 chat templates render every recorded chat byte for byte as
// transformers' apply_chat_template(tokenize=False) did (tests/fixtures/tokenizer/<name>.json,
// recorded by tests/reference/make_tokenizer_fixtures.py).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/load_error.h"
#include "engine/template/chat_template.h"

namespace troupe {
namespace {

std::filesystem::path tokenizer_config(const std::string& name) {
  return std::filesystem::path(TROUPE_CACHE_DIR) / "tokenizers" / name / "tokenizer_config.json";
}

nlohmann::ordered_json load_fixture(const std::string& name) {
  std::ifstream in(std::filesystem::path(TROUPE_FIXTURES_DIR) / "tokenizer" / (name + ".json"));
  if (!in) return nullptr;
  return nlohmann::ordered_json::parse(in);
}

class ChatTemplateFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ChatTemplateFixture, RendersLikeTransformers) {
  const std::string name = GetParam();
  const auto config_path = tokenizer_config(name);
  ASSERT_TRUE(std::filesystem::exists(config_path))
      << config_path << " is missing: run scripts/fetch_test_data.sh";
  const nlohmann::ordered_json fixture = load_fixture(name);
  ASSERT_FALSE(fixture.is_null()) << "missing fixture tests/fixtures/tokenizer/" << name << ".json";
  ASSERT_TRUE(fixture.contains("chat") && !fixture["chat"].empty());

  const ChatTemplateConfig config = read_chat_template_config(config_path);
  const ChatTemplate tmpl = ChatTemplate::parse(config.chat_template);
  size_t i = 0;
  for (const auto& chat : fixture["chat"]) {
    const std::string rendered = apply_chat_template(tmpl, config, chat["messages"], chat["add_generation_prompt"].get<bool>());
    EXPECT_EQ(rendered, chat["text"].get<std::string>()) << name << " chat #" << i;
    ++i;
  }
}

INSTANTIATE_TEST_SUITE_P(RealTokenizers, ChatTemplateFixture, ::testing::Values("qwen3", "llama3"));

TEST(ChatTemplateConfigFromRealFiles, ReadsTokensAndTemplate) {
  for (const char* name : {"qwen3", "llama3"})
    ASSERT_TRUE(std::filesystem::exists(tokenizer_config(name)))
        << tokenizer_config(name) << " is missing: run scripts/fetch_test_data.sh";
  const ChatTemplateConfig qwen = read_chat_template_config(tokenizer_config("qwen3"));
  EXPECT_EQ(qwen.bos_token, "");  // null in the file
  EXPECT_EQ(qwen.eos_token, "<|im_end|>");
  EXPECT_NE(qwen.chat_template.find("<|im_start|>"), std::string::npos);
  const ChatTemplateConfig llama = read_chat_template_config(tokenizer_config("llama3"));
  EXPECT_EQ(llama.bos_token, "<|begin_of_text|>");
  EXPECT_NE(llama.chat_template.find("<|start_header_id|>"), std::string::npos);
}

// Beyond the fixtures: Qwen3's tool and reasoning paths, expected text from jinja2 3.1 run the
// way transformers runs it (trim_blocks, lstrip_blocks, json.dumps tojson).
TEST(ChatTemplateQwen3, RendersToolsToolCallsAndReasoning) {
  ASSERT_TRUE(std::filesystem::exists(tokenizer_config("qwen3"))) << "run scripts/fetch_test_data.sh";
  const ChatTemplateConfig config = read_chat_template_config(tokenizer_config("qwen3"));
  const ChatTemplate tmpl = ChatTemplate::parse(config.chat_template);
  const auto messages = nlohmann::ordered_json::parse(R"([
    {"role": "user", "content": "weather?"},
    {"role": "assistant", "content": "", "reasoning_content": "need a tool",
     "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}}]},
    {"role": "tool", "content": "20"}])");
  const auto tools = nlohmann::ordered_json::parse(R"([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}])");
  const std::string expected =
      "<|im_start|>system\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
      "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
      "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\"}}}\n</tools>\n\n"
      "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
      "<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n"
      "<|im_start|>user\nweather?<|im_end|>\n"
      "<|im_start|>assistant\n<think>\nneed a tool\n</think>\n\n"
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}\n</tool_call><|im_end|>\n"
      "<|im_start|>user\n<tool_response>\n20\n</tool_response><|im_end|>\n"
      "<|im_start|>assistant\n";
  EXPECT_EQ(apply_chat_template(tmpl, config, messages, true, tools), expected);
}

}  // namespace
}  // namespace troupe
