// read_chat_template_config accepts the shapes tokenizer_config.json takes in the wild and
// names the file when it cannot; apply_chat_template passes what transformers passes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "engine/load_error.h"
#include "engine/template/chat_template.h"

namespace troupe {
namespace {

class ChatTemplateConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("troupe_chat_template_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return dir_ / name;
  }

  std::filesystem::path dir_;
};

TEST_F(ChatTemplateConfigTest, StringTemplateAndStringTokens) {
  auto path = write("tokenizer_config.json", R"({"chat_template": "{{ bos_token }}x", "bos_token": "<s>", "eos_token": "</s>"})");
  ChatTemplateConfig c = read_chat_template_config(path);
  EXPECT_EQ(c.chat_template, "{{ bos_token }}x");
  EXPECT_EQ(c.bos_token, "<s>");
  EXPECT_EQ(c.eos_token, "</s>");
}

TEST_F(ChatTemplateConfigTest, TemplateListTakesDefaultAndTokensMayBeObjects) {
  auto path = write("tokenizer_config.json", R"({
    "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}],
    "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
    "eos_token": null})");
  ChatTemplateConfig c = read_chat_template_config(path);
  EXPECT_EQ(c.chat_template, "D");
  EXPECT_EQ(c.bos_token, "<s>");
  EXPECT_EQ(c.eos_token, "");
}

TEST_F(ChatTemplateConfigTest, ChatTemplateJinjaBesideTheConfigWins) {
  auto path = write("tokenizer_config.json", R"({"eos_token": "</s>"})");
  write("chat_template.jinja", "{{ messages[0].content }}");
  EXPECT_EQ(read_chat_template_config(path).chat_template, "{{ messages[0].content }}");
}

TEST_F(ChatTemplateConfigTest, ProblemsNameTheFile) {
  auto expect_load_error = [&](const std::filesystem::path& path, const std::string& fragment) {
    try {
      read_chat_template_config(path);
      ADD_FAILURE() << "no LoadError for " << path;
    } catch (const LoadError& e) {
      EXPECT_EQ(e.file(), path);
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_load_error(dir_ / "absent.json", "cannot open");
  expect_load_error(write("bad.json", "{not json"), "invalid JSON");
  expect_load_error(write("none.json", R"({"eos_token": "x"})"), "no chat_template");
  expect_load_error(write("list.json", R"({"chat_template": [{"name": "rag", "template": "R"}]})"), "default");
  expect_load_error(write("tok.json", R"({"chat_template": "x", "bos_token": 5})"), "bos_token");
}

TEST(ApplyChatTemplate, PassesWhatTransformersPasses) {
  // bos_token unset (empty) is undefined in the template; tools and documents are none.
  const ChatTemplate tmpl = ChatTemplate::parse(
      "{{ bos_token is defined }}|{{ eos_token }}|{{ tools is none }}|{{ documents is none }}|"
      "{{ add_generation_prompt }}|{{ messages|length }}");
  ChatTemplateConfig config{"", "", "</s>"};
  EXPECT_EQ(apply_chat_template(tmpl, config, nlohmann::json::parse(R"([{"role": "user", "content": "x"}])"), true),
            "False|</s>|True|True|True|1");
  const ChatTemplate with_tools = ChatTemplate::parse("{% for t in tools %}{{ t | tojson }}{% endfor %}");
  EXPECT_EQ(apply_chat_template(with_tools, config, nlohmann::ordered_json::array(), false,
                                nlohmann::ordered_json::parse(R"([{"name": "f", "a": 1}])")),
            R"({"name": "f", "a": 1})");
}

TEST(ApplyChatTemplate, OneTemplateRendersOnManyThreadsAtOnce) {
  const ChatTemplate tmpl = ChatTemplate::parse(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
      "{{ m.role }}:{{ m.content | trim }};{% endfor %}{{ ns.n }}{{ range(3) | list }}");
  const auto messages = nlohmann::json::parse(R"([{"role": "user", "content": " a "}, {"role": "assistant", "content": "b"}])");
  const std::string expected = "user:a;assistant:b;2[0, 1, 2]";
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i)
        mismatches[t] += apply_chat_template(tmpl, ChatTemplateConfig{}, messages, false) != expected;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(ApplyChatTemplate, MessagesMustBeAnArray) {
  const ChatTemplate tmpl = ChatTemplate::parse("x");
  EXPECT_THROW(apply_chat_template(tmpl, ChatTemplateConfig{}, nlohmann::json::object(), false), TemplateError);
}

}  // namespace
}  // namespace troupe
