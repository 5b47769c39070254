// vLLM's prompt_logprobs end to end over loopback HTTP on the demo model: each prompt token's
// logprob equals the model's own log-softmax at the position before it (the reference: CpuModel's
// forward over that prefix alone), through a step budget smaller than the prompt (chunked) and
// beside a request that hits the prefix cache; vLLM's shape (a list, the first entry null, token
// id -> {logprob, rank, decoded_token}); chat's once on the response; echo with logprobs leading
// with the prompt tokens; and the 400s, also from an executor that cannot score prompts.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include <nlohmann/json.hpp>

#include "test_server.h"
#include "tests/engine/reference_logprobs.h"

namespace troupe {
namespace {

using nlohmann::ordered_json;  // ordered: a position's entries keep the server's order
using test::http_call;

constexpr double kTolerance = 1e-4;  // fp32 GEMMs of other heights round the last bits differently

int64_t code_points(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

class ServePromptLogprobs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    test::TestServerOptions o;
    o.config.max_num_seqs = 8;
    o.config.max_num_batched_tokens = 32;  // a prompt of 80 tokens takes three steps or more
    server_ = new test::TestServer(o);
    // The reference runs on a model of its own: the server's executor uses its workspaces.
    reference_model_ = load_cpu_model(server_->folder(), LoadFormat::Dummy, 0).release();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete reference_model_;
  }
  static test::TestServer& server() { return *server_; }
  static const Tokenizer& tokenizer() { return server().folder().text.tokenizer; }
  static std::string name(int32_t id) { return tokenizer().decode(std::span(&id, 1)); }

  static ordered_json post(const std::string& path, const ordered_json& body, unsigned expect_status = 200) {
    const auto r = http_call(server().port(), "POST", path, body.dump());
    EXPECT_EQ(r.status, expect_status) << path << " " << body.dump() << " -> " << r.body;
    return ordered_json::parse(r.body);
  }

  // reference[p][v] = log P(v | prompt[0..p]), from the forward over that prefix alone.
  static std::vector<std::vector<double>> reference(const std::vector<int32_t>& prompt) {
    return testing::prefix_logprobs(*reference_model_, prompt);
  }

  // vLLM's prompt_logprobs list for `prompt` with `top_n` alternatives, checked against the model.
  static void expect_prompt_logprobs(const ordered_json& list, const std::vector<int32_t>& prompt, int32_t top_n) {
    ASSERT_TRUE(list.is_array()) << list.dump();
    ASSERT_EQ(list.size(), prompt.size());
    EXPECT_TRUE(list[0].is_null());  // nothing predicts the first token
    const auto ref = reference(prompt);
    for (size_t i = 1; i < prompt.size(); ++i) {
      SCOPED_TRACE("position " + std::to_string(i));
      const ordered_json& position = list[i];
      ASSERT_TRUE(position.is_object());
      const std::vector<double>& row = ref[i - 1];
      // The prompt token first, then the alternatives not listed yet, most likely first.
      ASSERT_EQ(position.begin().key(), std::to_string(prompt[i]));
      const ordered_json& own = position.begin().value();
      EXPECT_NEAR(own["logprob"].get<double>(), row[static_cast<size_t>(prompt[i])], kTolerance);
      EXPECT_EQ(own["decoded_token"], name(prompt[i]));
      const double want = row[static_cast<size_t>(prompt[i])];
      EXPECT_GE(own["rank"].get<int64_t>(), 1 + std::count_if(row.begin(), row.end(), [&](double v) { return v > want + kTolerance; }));
      const bool among = own["rank"].get<int32_t>() <= top_n;
      EXPECT_EQ(position.size(), static_cast<size_t>(top_n) + (among ? 0 : 1));
      // The alternatives: ranks 1..top_n, most likely first.
      std::vector<std::pair<int32_t, double>> ranked;
      for (const auto& [key, e] : position.items()) {
        if (key == std::to_string(prompt[i]) && !among) continue;
        EXPECT_NEAR(e["logprob"].get<double>(), row[std::stoul(key)], kTolerance) << key;
        EXPECT_EQ(e["decoded_token"], name(std::stoi(key))) << key;
        ranked.emplace_back(e["rank"].get<int32_t>(), e["logprob"].get<double>());
      }
      std::sort(ranked.begin(), ranked.end());
      for (size_t k = 0; k < ranked.size(); ++k) {
        EXPECT_EQ(ranked[k].first, static_cast<int32_t>(k) + 1);
        if (k > 0) {
          EXPECT_LE(ranked[k].second, ranked[k - 1].second);
        }
      }
      if (!ranked.empty()) {
        EXPECT_NEAR(ranked[0].second, *std::max_element(row.begin(), row.end()), kTolerance);
      }
    }
  }

 private:
  static inline test::TestServer* server_ = nullptr;
  static inline CpuModel* reference_model_ = nullptr;
};

std::vector<int32_t> a_prompt(size_t n, int32_t first) {
  std::vector<int32_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = first + static_cast<int32_t>((i * 7919) % 5000);
  return p;
}

TEST_F(ServePromptLogprobs, PromptLogprobsAreTheModelsLogSoftmaxAtEachPosition) {
  const std::vector<int32_t> prompt = a_prompt(80, 1000);
  // The prompt's blocks in the prefix cache first; then the same prompt twice at once: the request
  // without prompt_logprobs hits the cache, the one with them computes every position.
  post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 1}});
  const uint64_t hits_before = server().metrics().prefix_cache_hit_tokens.load();
  ordered_json plain;
  std::thread beside([&] { plain = post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 4}, {"ignore_eos", true}}); });
  const ordered_json r =
      post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 2}, {"temperature", 0}, {"prompt_logprobs", 2}});
  beside.join();
  EXPECT_EQ(server().metrics().prefix_cache_hit_tokens.load() - hits_before, 64u);  // the plain one's 4 blocks
  EXPECT_EQ(r["usage"]["prompt_tokens"], 80);
  expect_prompt_logprobs(r["choices"][0]["prompt_logprobs"], prompt, 2);
  EXPECT_TRUE(r["choices"][0]["logprobs"].is_null());  // those are another field's
  EXPECT_FALSE(plain["choices"][0].contains("prompt_logprobs"));
  // 0: the prompt token alone at each position.
  const ordered_json zero = post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 1}, {"prompt_logprobs", 0}});
  expect_prompt_logprobs(zero["choices"][0]["prompt_logprobs"], prompt, 0);
}

TEST_F(ServePromptLogprobs, ChatCarriesThemOnceOnTheResponse) {
  const ordered_json r = post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Score my prompt"}}}},
                                                       {"max_tokens", 2}, {"n", 2}, {"prompt_logprobs", 1}});
  ASSERT_TRUE(r.contains("prompt_logprobs")) << r.dump();
  const ordered_json& list = r["prompt_logprobs"];
  ASSERT_EQ(list.size(), r["usage"]["prompt_tokens"].get<size_t>());
  EXPECT_TRUE(list[0].is_null());
  for (size_t i = 1; i < list.size(); ++i) {
    ASSERT_TRUE(list[i].is_object()) << i;
    EXPECT_LE(list[i].size(), 2u) << i;
    EXPECT_LE(list[i].begin().value()["logprob"].get<double>(), 0.0);
  }
  for (const auto& c : r["choices"]) EXPECT_FALSE(c.contains("prompt_logprobs"));
  EXPECT_FALSE(post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_tokens", 1}})
                   .contains("prompt_logprobs"));
}

TEST_F(ServePromptLogprobs, EchoWithLogprobsLeadsWithThePromptTokens) {
  const std::string text = "Echo these words back, with their logprobs";
  const std::vector<int32_t> prompt = tokenizer().encode(text, true);
  const size_t n = prompt.size();
  const ordered_json body = {{"prompt", text}, {"max_tokens", 3}, {"temperature", 0}, {"ignore_eos", true},
                             {"echo", true}, {"logprobs", 2}};
  const ordered_json r = post("/v1/completions", body);
  const ordered_json& c = r["choices"][0];
  const ordered_json& lp = c["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), n + 3);
  for (const char* key : {"token_logprobs", "top_logprobs", "text_offset"}) ASSERT_EQ(lp[key].size(), n + 3) << key;
  // OpenAI's legacy shape: the first prompt token has no logprob and no alternatives.
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  // echo with logprobs asks for the prompt's logprobs (vLLM's too): the choice carries them.
  const ordered_json& prompt_lp = c["prompt_logprobs"];
  ASSERT_EQ(prompt_lp.size(), n);
  int64_t offset = 0;
  for (size_t i = 0; i < n; ++i) {
    SCOPED_TRACE("prompt token " + std::to_string(i));
    EXPECT_EQ(lp["tokens"][i], name(prompt[i]));
    EXPECT_EQ(lp["text_offset"][i], offset);
    offset += code_points(name(prompt[i]));
    if (i == 0) continue;
    EXPECT_EQ(lp["token_logprobs"][i].get<double>(),
              prompt_lp[i][std::to_string(prompt[i])]["logprob"].get<double>());
    EXPECT_LE(lp["top_logprobs"][i].size(), 2u);
    EXPECT_GE(lp["top_logprobs"][i].size(), 1u);
  }
  // The generated tokens follow, their offsets counted after the echoed text.
  EXPECT_EQ(c["text"].get<std::string>().rfind(text, 0), 0u);
  EXPECT_EQ(lp["text_offset"][n], code_points(text));
  for (size_t i = n; i < n + 3; ++i) EXPECT_LE(lp["token_logprobs"][i].get<double>(), 0.0) << i;
  // Streamed, the first chunk carries the prompt's entries in front of its own.
  ordered_json streamed = body;
  streamed["stream"] = true;
  const auto s = http_call(server().port(), "POST", "/v1/completions", streamed.dump());
  ASSERT_EQ(s.status, 200u) << s.body;
  ordered_json all;
  std::string all_text;
  for (const std::string& e : test::sse_events(s.body)) {
    if (e == "[DONE]") continue;
    const ordered_json event = ordered_json::parse(e);
    const ordered_json& chunk = event["choices"][0];
    all_text += chunk["text"].get<std::string>();
    if (!chunk["logprobs"].is_null())
      for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"})
        for (const auto& v : chunk["logprobs"][key]) all[key].push_back(v);
  }
  EXPECT_EQ(all_text, c["text"]);
  EXPECT_EQ(all["tokens"], lp["tokens"]);
  EXPECT_EQ(all["text_offset"], lp["text_offset"]);
  ASSERT_EQ(all["token_logprobs"].size(), n + 3);
  EXPECT_TRUE(all["token_logprobs"][0].is_null());
  for (size_t i = 1; i < n + 3; ++i)
    EXPECT_NEAR(all["token_logprobs"][i].get<double>(), lp["token_logprobs"][i].get<double>(), kTolerance) << i;
}

TEST_F(ServePromptLogprobs, BadValuesAre400sNamingTheField) {
  const ordered_json chat_messages = {{{"role", "user"}, {"content", "hi"}}};
  const std::vector<ordered_json> bad = {
      {{"prompt", "x"}, {"prompt_logprobs", -1}},  // the whole vocabulary: refused by name
      {{"prompt", "x"}, {"prompt_logprobs", 21}},
      {{"prompt", "x"}, {"prompt_logprobs", -2}},
      {{"prompt", "x"}, {"prompt_logprobs", "1"}},
      {{"prompt", "x"}, {"prompt_logprobs", 1.5}},
      {{"prompt", "x"}, {"prompt_logprobs", true}},
      {{"prompt", "x"}, {"prompt_logprobs", 1}, {"stream", true}},  // vLLM: not available when streaming
      {{"messages", chat_messages}, {"prompt_logprobs", 2}, {"stream", true}},
  };
  for (const ordered_json& b : bad) {
    const std::string path = b.contains("messages") ? "/v1/chat/completions" : "/v1/completions";
    const ordered_json e = post(path, b, 400);
    EXPECT_EQ(e["error"]["param"], "prompt_logprobs") << b.dump();
  }
  EXPECT_NE(post("/v1/completions", bad[0], 400)["error"]["message"].get<std::string>().find("-1"), std::string::npos);
  // 0 with stream passes, as in vLLM (there is nowhere to put them, so nothing is shown).
  const auto s = http_call(server().port(), "POST", "/v1/completions",
                           ordered_json{{"prompt", "x"}, {"max_tokens", 1}, {"prompt_logprobs", 0}, {"stream", true}}.dump());
  EXPECT_EQ(s.status, 200u) << s.body;
  post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 1}, {"prompt_logprobs", 20}});
}

TEST(ServePromptLogprobsRefused, AnExecutorThatCannotScorePromptsRefusesByName) {
  test::TestServerOptions o;
  o.prompt_logprobs = false;  // as a GPU executor answers ModelBackend::computes_prompt_logprobs
  test::TestServer server(o);
  auto call = [&](const ordered_json& body) { return http_call(server.port(), "POST", "/v1/completions", body.dump()); };
  for (const auto& [body, param] : {std::pair{ordered_json{{"prompt", "x"}, {"prompt_logprobs", 0}}, "prompt_logprobs"},
                                    std::pair{ordered_json{{"prompt", "x"}, {"echo", true}, {"logprobs", 1}}, "echo"}}) {
    const auto r = call(body);
    EXPECT_EQ(r.status, 400u) << r.body;
    const ordered_json e = ordered_json::parse(r.body);
    EXPECT_EQ(e["error"]["param"], param) << r.body;
    EXPECT_NE(e["error"]["message"].get<std::string>().find("not supported yet"), std::string::npos) << r.body;
  }
  EXPECT_EQ(call({{"prompt", "x"}, {"max_tokens", 1}, {"echo", true}}).status, 200u);
  EXPECT_EQ(call({{"prompt", "x"}, {"max_tokens", 1}, {"logprobs", 1}}).status, 200u);
}

}  // namespace
}  // namespace troupe
