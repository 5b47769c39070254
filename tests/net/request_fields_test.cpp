// The one rule for request fields (net/request_fields.h), enforced: every field of vLLM's
// CompletionRequest and ChatCompletionRequest is on the list; each honored one names an
// end-to-end test that exists, each refused one is a 400 naming it, unknown fields pass with one
// warning, and docs/coming_from_vllm.md is the list's table.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "net/request_fields.h"
#include "test_server.h"

namespace troupe::net {
namespace {

using nlohmann::json;
using test::http_call;

// vLLM's fields, as vllm/entrypoints/openai/protocol.py declares them (plus the newer
// structured_outputs and return_token_ids): a field missing from our list fails here.
const std::vector<std::string> kVllmCompletion = {
    "model", "prompt", "prompt_embeds", "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs", "max_tokens",
    "n", "presence_penalty", "seed", "stop", "stream", "stream_options", "suffix", "temperature", "top_p", "user",
    "use_beam_search", "top_k", "min_p", "repetition_penalty", "length_penalty", "stop_token_ids",
    "include_stop_str_in_output", "ignore_eos", "min_tokens", "skip_special_tokens", "spaces_between_special_tokens",
    "truncate_prompt_tokens", "allowed_token_ids", "prompt_logprobs", "add_special_tokens", "response_format",
    "guided_json", "guided_regex", "guided_choice", "guided_grammar", "guided_decoding_backend",
    "guided_whitespace_pattern", "priority", "request_id", "logits_processors", "return_tokens_as_token_ids",
    "cache_salt", "kv_transfer_params", "vllm_xargs", "structured_outputs", "return_token_ids"};
const std::vector<std::string> kVllmChat = {
    "messages", "model", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "max_tokens",
    "max_completion_tokens", "n", "presence_penalty", "response_format", "seed", "stop", "stream", "stream_options",
    "temperature", "top_p", "tools", "tool_choice", "reasoning_effort", "include_reasoning", "parallel_tool_calls", "user",
    "best_of", "use_beam_search", "top_k", "min_p", "repetition_penalty", "length_penalty", "stop_token_ids",
    "include_stop_str_in_output", "ignore_eos", "min_tokens", "skip_special_tokens", "spaces_between_special_tokens",
    "truncate_prompt_tokens", "prompt_logprobs", "allowed_token_ids", "bad_words", "echo", "add_generation_prompt",
    "continue_final_message", "add_special_tokens", "documents", "chat_template", "chat_template_kwargs",
    "mm_processor_kwargs", "guided_json", "guided_regex", "guided_choice", "guided_grammar", "structural_tag",
    "guided_decoding_backend", "guided_whitespace_pattern", "priority", "request_id", "logits_processors",
    "return_tokens_as_token_ids", "cache_salt", "kv_transfer_params", "vllm_xargs", "structured_outputs", "return_token_ids"};

std::string read_source(const std::string& relative) {
  std::ifstream in(std::string(TROUPE_SOURCE_DIR) + "/" + relative);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class RequestFields : public test::ServerSuite {
 protected:
  static test::HttpReply post(ApiKind kind, const json& extra) {
    json body = kind == ApiKind::Chat ? json{{"messages", json::array({{{"role", "user"}, {"content", "Hi"}}})}}
                                      : json{{"prompt", "Hi"}};
    body["max_tokens"] = 2;
    body.update(extra);
    return http_call(server().port(), "POST", kind == ApiKind::Chat ? "/v1/chat/completions" : "/v1/completions", body.dump());
  }
};

TEST_F(RequestFields, EveryVllmFieldIsOnTheList) {
  for (const auto& name : kVllmCompletion) EXPECT_NE(find_request_field(ApiKind::Completion, name), nullptr) << name;
  for (const auto& name : kVllmChat) EXPECT_NE(find_request_field(ApiKind::Chat, name), nullptr) << name;
}

TEST_F(RequestFields, EachFieldIsHonoredOrRefusedByName) {
  for (const RequestField& f : request_fields()) {
    for (ApiKind kind : {ApiKind::Completion, ApiKind::Chat}) {
      if (!(kind == ApiKind::Chat ? f.chat : f.completion)) continue;
      const std::string where = std::string(f.name) + (kind == ApiKind::Chat ? " (chat)" : " (completions)");
      const json example = f.example.empty() ? json::object() : json::parse(f.example);
      const auto r = post(kind, example);
      switch (f.status) {
        case FieldStatus::Honored:
        case FieldStatus::Partial: {
          // The effect test it names exists: "file:TestName".
          const std::string ref(f.effect_test);
          ASSERT_NE(ref.find(':'), std::string::npos) << where << ": no effect test";
          const std::string source = read_source(ref.substr(0, ref.find(':')));
          EXPECT_NE(source.find(", " + ref.substr(ref.find(':') + 1) + ") {"), std::string::npos)
              << where << ": " << ref << " not found";
          if (!f.gate.empty()) {
            // This server was started without the flag: a 400 naming the field and the flag; the
            // values that ask for nothing still pass.
            EXPECT_EQ(r.status, 400u) << where << ": " << r.body;
            const json e = json::parse(r.body, nullptr, false);
            EXPECT_EQ(e["error"]["param"], f.name) << where << ": " << r.body;
            EXPECT_NE(e["error"]["message"].get<std::string>().find(std::string(f.gate)), std::string::npos) << where;
            if (!f.accepted.empty())
              EXPECT_EQ(post(kind, {{std::string(f.name), json::parse(f.accepted)}}).status, 200u) << where;
            break;
          }
          if (f.status == FieldStatus::Honored) {
            EXPECT_EQ(r.status, 200u) << where << ": " << r.body;
            break;
          }
          [[fallthrough]];  // a Partial field's example is a value it refuses
        }
        case FieldStatus::Refused: {
          EXPECT_EQ(r.status, 400u) << where << ": " << r.body;
          const json e = json::parse(r.body, nullptr, false);
          EXPECT_EQ(e["error"]["param"], f.name) << where << ": " << r.body;
          EXPECT_NE(e["error"]["message"].get<std::string>().find("is not supported yet"), std::string::npos) << where;
          // The values that ask for nothing pass.
          size_t begin = 0;
          while (begin < f.accepted.size()) {
            size_t end = std::min(f.accepted.find(" | ", begin), f.accepted.size());
            const auto ok = post(kind, {{std::string(f.name), json::parse(f.accepted.substr(begin, end - begin))}});
            EXPECT_EQ(ok.status, 200u) << where << " = " << f.accepted.substr(begin, end - begin) << ": " << ok.body;
            begin = end + 3;
          }
          break;
        }
        case FieldStatus::Inert:
          EXPECT_EQ(r.status, 200u) << where << ": " << r.body;
          EXPECT_FALSE(f.note.empty()) << where << ": an inert field says why";
          break;
      }
    }
  }
}

TEST_F(RequestFields, UnknownFieldsPassAndAreWarnedOnce) {
  EXPECT_EQ(post(ApiKind::Completion, {{"frobnicate", 1}}).status, 200u);
  EXPECT_EQ(post(ApiKind::Chat, {{"frobnicate", 1}}).status, 200u);
  EXPECT_TRUE(warn_unknown_fields_once({"frobnicate"}).empty());  // the requests said it already
  EXPECT_EQ(warn_unknown_fields_once({"another_field"}), std::vector<std::string>{"another_field"});
  EXPECT_TRUE(warn_unknown_fields_once({"another_field"}).empty());
  // A chat-only field on /v1/completions is unknown there, as in vLLM.
  EXPECT_EQ(unknown_request_fields(ApiKind::Completion, {{"messages", 1}, {"prompt", "x"}}),
            std::vector<std::string>{"messages"});
}

TEST(RequestFieldsDoc, DocsTableIsTheList) {
  const std::string path = "docs/coming_from_vllm.md";
  const std::string doc = read_source(path);
  const std::string begin = "<!-- request fields: begin -->\n", end = "<!-- request fields: end -->";
  const size_t a = doc.find(begin), b = doc.find(end);
  ASSERT_TRUE(a != std::string::npos && b != std::string::npos) << path << " lacks the markers";
  const std::string table = request_fields_markdown();
  if (std::getenv("TROUPE_UPDATE_DOCS") != nullptr && doc.substr(a + begin.size(), b - a - begin.size()) != table) {
    std::ofstream(std::string(TROUPE_SOURCE_DIR) + "/" + path) << doc.substr(0, a + begin.size()) + table + doc.substr(b);
    GTEST_SKIP() << "rewrote " << path;
  }
  EXPECT_EQ(doc.substr(a + begin.size(), b - a - begin.size()), table)
      << path << " is out of date: run this test with TROUPE_UPDATE_DOCS=1";
}

}  // namespace
}  // namespace troupe::net
