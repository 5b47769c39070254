// vLLM's request fields on /v1/completions, each shown by its effect end to end over loopback HTTP
// on the demo model (net/request_fields.h names these tests; request_fields_test checks they exist).
#include <gtest/gtest.h>

#include <regex>

#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/model/sequence_generator.h"
#include "test_server.h"

namespace troupe {
namespace {

using nlohmann::json;
using test::http_call;
using test::sse_events;

constexpr int32_t kEos = 151645;          // <|im_end|>, the demo model's EOS
constexpr int32_t kEndOfText = 151643;    // <|endoftext|>: special, not an EOS here
const std::string kPrompt = "The capital of France is";

class ServeVllmFields : public test::ServerSuite {
 protected:
  static json completion(json body, unsigned expect_status = 200) {
    body.emplace("prompt", kPrompt);
    const auto r = http_call(server().port(), "POST", "/v1/completions", body.dump());
    EXPECT_EQ(r.status, expect_status) << body.dump() << " -> " << r.body;
    return json::parse(r.body);
  }
  // The greedy output ids of `prompt` alone, as the offline generator makes them.
  static std::vector<int32_t> greedy_ids(const std::vector<int32_t>& prompt, int max_tokens) {
    SamplingParams p;
    p.temperature = 0.0f;
    p.max_tokens = max_tokens;
    p.ignore_eos = true;
    return SequenceGenerator(server().model(), {.block_size = 16, .prefill_chunk = 0, .eos_token_ids = {}}).generate(prompt, p).ids;
  }
  static std::vector<int32_t> encode(const std::string& s) { return server().folder().text.tokenizer.encode(s, true); }
  static std::string decode(const std::vector<int32_t>& ids) { return server().folder().text.tokenizer.decode(ids, true); }
  static std::string text(const json& r, int i = 0) { return r["choices"][i]["text"].get<std::string>(); }
};

TEST_F(ServeVllmFields, SamplingFieldsChangeTheDraw) {
  // Greedy is the reference; each field moves a sampled or penalized draw away from it (or, for
  // the seed, pins it).
  const json base = {{"max_tokens", 12}, {"ignore_eos", true}};
  auto with = [&](json extra) {
    json b = base;
    b.update(extra);
    return text(completion(b));
  };
  const std::string greedy = with({{"temperature", 0}});
  EXPECT_EQ(greedy, decode(greedy_ids(encode(kPrompt), 12)));
  // A seed fixes a sampled text; another seed gives another (the demo model's logits are flat).
  EXPECT_EQ(with({{"temperature", 1}, {"seed", 7}}), with({{"temperature", 1}, {"seed", 7}}));
  EXPECT_NE(with({{"temperature", 1}, {"seed", 7}}), with({{"temperature", 1}, {"seed", 8}}));
  // Filters that keep only the most likely token make sampling greedy.
  EXPECT_EQ(with({{"temperature", 1}, {"seed", 7}, {"top_k", 1}}), greedy);
  EXPECT_EQ(with({{"temperature", 1}, {"seed", 7}, {"top_p", 1e-6}}), greedy);
  EXPECT_EQ(with({{"temperature", 1}, {"seed", 7}, {"min_p", 1.0}}), greedy);
  // Penalties change a greedy text (flat logits: a penalized repeat loses).
  for (const char* penalty : {"repetition_penalty", "presence_penalty", "frequency_penalty"})
    EXPECT_NE(with({{"temperature", 0}, {penalty, 2.0}}), greedy) << penalty;
}

TEST_F(ServeVllmFields, LogitBiasForcesAToken) {
  // +100 on one token makes it every greedy pick; -100 on the greedy first token moves the draw.
  const json forced = completion({{"max_tokens", 3}, {"temperature", 0}, {"ignore_eos", true},
                                  {"logit_bias", {{"9707", 100}}}});  // "Hello"
  EXPECT_EQ(text(forced), decode({9707, 9707, 9707}));
  const std::vector<int32_t> greedy = greedy_ids(encode(kPrompt), 1);
  const json banned = completion({{"max_tokens", 1}, {"temperature", 0}, {"logit_bias", {{std::to_string(greedy[0]), -100}}}});
  EXPECT_NE(text(banned), decode(greedy));
  // Out of the vocabulary, or not a token id: 400s naming the field.
  EXPECT_EQ(completion({{"logit_bias", {{"999999999", 1}}}}, 400)["error"]["param"], "logit_bias");
  EXPECT_EQ(completion({{"logit_bias", {{"x", 1}}}}, 400)["error"]["param"], "logit_bias");
}

TEST_F(ServeVllmFields, MinTokensHoldsOffAForcedEos) {
  // EOS biased to win at once: the request stops after one token...
  const json bias = {{std::to_string(kEos), 100}};
  const json early = completion({{"max_tokens", 10}, {"temperature", 0}, {"logit_bias", bias}});
  EXPECT_EQ(early["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(early["usage"]["completion_tokens"], 1);
  // ...min_tokens 5 masks it for five tokens, then it wins again: six tokens, stopped by EOS...
  const json held = completion({{"max_tokens", 10}, {"temperature", 0}, {"logit_bias", bias}, {"min_tokens", 5}});
  EXPECT_EQ(held["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(held["usage"]["completion_tokens"], 6);
  // ...and ignore_eos runs to max_tokens through it.
  const json ignored = completion({{"max_tokens", 4}, {"temperature", 0}, {"logit_bias", bias}, {"ignore_eos", true}});
  EXPECT_EQ(ignored["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(ignored["usage"]["completion_tokens"], 4);
  EXPECT_EQ(completion({{"max_tokens", 3}, {"min_tokens", 4}}, 400)["error"]["param"], "min_tokens");
}

TEST_F(ServeVllmFields, StopTokenIdsEndTheSequenceWithoutTheirText) {
  const std::vector<int32_t> ids = greedy_ids(encode(kPrompt), 8);
  const int32_t stop = ids[3];
  const size_t first = static_cast<size_t>(std::find(ids.begin(), ids.end(), stop) - ids.begin());
  // Even with ignore_eos, as in vLLM; the stopping token's text is left out.
  const json r = completion({{"max_tokens", 8}, {"temperature", 0}, {"ignore_eos", true}, {"stop_token_ids", {stop}}});
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(r["usage"]["completion_tokens"], first + 1);
  EXPECT_EQ(text(r), decode({ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(first)}));
}

TEST_F(ServeVllmFields, IncludeStopStrInOutputKeepsTheStop) {
  const std::vector<int32_t> ids = greedy_ids(encode(kPrompt), 8);
  const std::string whole = decode(ids);
  const std::string stop = whole.substr(whole.size() / 2, 2);
  const size_t at = whole.find(stop);
  const json base = {{"max_tokens", 8}, {"temperature", 0}, {"ignore_eos", true}, {"stop", {stop}}};
  json with = base;
  with["include_stop_str_in_output"] = true;
  EXPECT_EQ(text(completion(base)), whole.substr(0, at));
  EXPECT_EQ(text(completion(with)), whole.substr(0, at + stop.size()));
  // A stop token's text too (streamed the same).
  json by_id = {{"max_tokens", 8}, {"temperature", 0}, {"ignore_eos", true}, {"stop_token_ids", {ids[2]}},
                {"include_stop_str_in_output", true}};
  const size_t first = static_cast<size_t>(std::find(ids.begin(), ids.end(), ids[2]) - ids.begin());
  EXPECT_EQ(text(completion(by_id)), decode({ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(first) + 1}));
}

TEST_F(ServeVllmFields, SkipSpecialTokensFalseShowsThem) {
  const json forced = {{"max_tokens", 2}, {"temperature", 0}, {"logit_bias", {{std::to_string(kEndOfText), 100}}}};
  EXPECT_EQ(text(completion(forced)), "");
  json shown = forced;
  shown["skip_special_tokens"] = false;
  EXPECT_EQ(text(completion(shown)), "<|endoftext|><|endoftext|>");
}

TEST_F(ServeVllmFields, TruncatePromptTokensKeepsTheLastK) {
  const std::vector<int32_t> ids = encode(kPrompt);
  ASSERT_GT(ids.size(), 3u);
  const json r = completion({{"max_tokens", 6}, {"temperature", 0}, {"ignore_eos", true}, {"truncate_prompt_tokens", 3}});
  EXPECT_EQ(r["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(text(r), decode(greedy_ids({ids.end() - 3, ids.end()}, 6)));
}

TEST_F(ServeVllmFields, BatchPromptsGetOneChoiceEachInOrder) {
  const std::vector<std::string> prompts = {"Hello", "The sky is", "One two three"};
  json body = {{"prompt", prompts}, {"max_tokens", 5}, {"temperature", 0}, {"ignore_eos", true}, {"n", 2}};
  const auto r = json::parse(http_call(server().port(), "POST", "/v1/completions", body.dump()).body);
  ASSERT_EQ(r["choices"].size(), 6u) << r.dump();
  size_t prompt_tokens = 0;
  for (size_t p = 0; p < prompts.size(); ++p) {
    prompt_tokens += encode(prompts[p]).size();
    for (size_t k = 0; k < 2; ++k) {
      EXPECT_EQ(r["choices"][p * 2 + k]["index"], p * 2 + k);
      EXPECT_EQ(r["choices"][p * 2 + k]["text"], decode(greedy_ids(encode(prompts[p]), 5))) << p;
    }
  }
  EXPECT_EQ(r["usage"]["prompt_tokens"], prompt_tokens);
  EXPECT_EQ(r["usage"]["completion_tokens"], 6 * 5);
  // Token-id lists batch the same way.
  body["prompt"] = {encode(prompts[0]), encode(prompts[1])};
  body["n"] = 1;
  const auto ids = json::parse(http_call(server().port(), "POST", "/v1/completions", body.dump()).body);
  ASSERT_EQ(ids["choices"].size(), 2u);
  EXPECT_EQ(ids["choices"][1]["text"], r["choices"][2]["text"]);
  body["prompt"] = json::array({"x", 5});
  EXPECT_EQ(json::parse(http_call(server().port(), "POST", "/v1/completions", body.dump()).body)["error"]["param"], "prompt");
}

TEST_F(ServeVllmFields, ResponseFormatTextIsHonoredOthersRefused) {
  const json plain = completion({{"max_tokens", 4}, {"temperature", 0}});
  const json text_format = completion({{"max_tokens", 4}, {"temperature", 0}, {"response_format", {{"type", "text"}}}});
  EXPECT_EQ(text(text_format), text(plain));
  const json refused = completion({{"response_format", {{"type", "json_object"}}}}, 400);
  EXPECT_EQ(refused["error"]["param"], "response_format");
  EXPECT_NE(refused["error"]["message"].get<std::string>().find("not supported yet"), std::string::npos);
}

TEST_F(ServeVllmFields, RequestIdNamesTheResponse) {
  EXPECT_EQ(completion({{"max_tokens", 1}, {"request_id", "abc-1"}})["id"], "cmpl-abc-1");
  // Without one, a random id per request as vLLM's: 32 hex digits, never the same twice.
  const std::string a = completion({{"max_tokens", 1}})["id"], b = completion({{"max_tokens", 1}})["id"];
  EXPECT_TRUE(std::regex_match(a, std::regex("cmpl-[0-9a-f]{32}"))) << a;
  EXPECT_NE(a, b);
  EXPECT_EQ(completion({{"max_tokens", 1}, {"request_id", ""}}, 400)["error"]["param"], "request_id");
}

TEST_F(ServeVllmFields, EchoPrependsThePrompt) {
  const json plain = completion({{"max_tokens", 4}, {"temperature", 0}, {"ignore_eos", true}});
  const json echoed = completion({{"max_tokens", 4}, {"temperature", 0}, {"ignore_eos", true}, {"echo", true}});
  EXPECT_EQ(text(echoed), kPrompt + text(plain));
  EXPECT_EQ(echoed["usage"], plain["usage"]);  // the prompt is not counted twice
  // Streamed, the prompt rides in the first chunk; the whole is the same text.
  const auto r = http_call(server().port(), "POST", "/v1/completions",
                           json{{"prompt", kPrompt}, {"max_tokens", 4}, {"temperature", 0}, {"ignore_eos", true},
                                {"echo", true}, {"stream", true}}.dump());
  std::string streamed;
  std::vector<std::string> pieces;
  for (const std::string& e : sse_events(r.body))
    if (e != "[DONE]") pieces.push_back(json::parse(e)["choices"][0]["text"].get<std::string>());
  for (const std::string& p : pieces) streamed += p;
  EXPECT_EQ(streamed, kPrompt + text(plain));
  ASSERT_FALSE(pieces.empty());
  EXPECT_EQ(pieces[0].rfind(kPrompt, 0), 0u) << pieces[0];
  // Token ids are echoed as their text; each prompt of a batch leads its own choices.
  const json ids = completion({{"prompt", encode("Hello world")}, {"max_tokens", 1}, {"echo", true}});
  EXPECT_EQ(text(ids).rfind("Hello world", 0), 0u) << text(ids);
  const json batch = completion({{"prompt", {"One", "Two"}}, {"n", 2}, {"max_tokens", 1}, {"echo", true}});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(text(batch, i).rfind(i < 2 ? "One" : "Two", 0), 0u) << i << ": " << text(batch, i);
  // With logprobs, the prompt tokens' lead the generated ones' (serve_prompt_logprobs_test has the values).
  const json scored = completion({{"max_tokens", 2}, {"echo", true}, {"logprobs", 1}});
  EXPECT_EQ(scored["choices"][0]["logprobs"]["tokens"].size(), scored["usage"]["prompt_tokens"].get<size_t>() + 2);
  const auto chat = http_call(server().port(), "POST", "/v1/chat/completions",
                              json{{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"echo", true}}.dump());
  EXPECT_EQ(chat.status, 400u) << chat.body;
}

TEST_F(ServeVllmFields, StreamOptionsNeedStream) {
  // As vLLM answers: stream_options without stream: true is a 400 naming it.
  EXPECT_EQ(completion({{"stream_options", {{"include_usage", true}}}}, 400)["error"]["param"], "stream_options");
  const auto r = http_call(server().port(), "POST", "/v1/completions",
                           json{{"prompt", kPrompt}, {"max_tokens", 2}, {"stream", true}, {"stream_options", {{"include_usage", true}}}}.dump());
  const auto events = sse_events(r.body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(json::parse(events[events.size() - 2])["usage"]["completion_tokens"], 2);
}

}  // namespace
}  // namespace troupe
