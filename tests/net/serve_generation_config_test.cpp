// A model's generation_config.json over HTTP: its values are the defaults a request's fields
// override, max_new_tokens caps the default length, and its extra EOS id ends a sequence
// (tests/fixtures/generation-config, read as `--generation-config DIR` reads it). On TGI's and
// Triton's routes only the EOS ids apply: those servers read a request's parameters literally
// (tests/fixtures/generation-config-sampling, which asks for temperature 0.5).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/model/sequence_generator.h"
#include "test_server.h"

namespace troupe {
namespace {

using nlohmann::json;
using test::http_call;

constexpr int32_t kExtraEos = 19436;  // the fixture's second eos_token_id
const std::string kPrompt = "The capital of France is";

// A server on the demo model whose generation_config.json is tests/fixtures/<fixture>'s.
test::TestServer* server_with_generation_config(const std::string& fixture) {
  ModelFolder folder = open_model_folder(std::string(TROUPE_CACHE_DIR) + "/demo-model");
  apply_generation_defaults(folder, load_generation_defaults(std::string(TROUPE_FIXTURES_DIR) + "/" + fixture,
                                                             folder.dir, ""));
  test::TestServerOptions o;
  o.folder = std::make_shared<const ModelFolder>(std::move(folder));
  return new test::TestServer(o);
}

class ServeGenerationConfig : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = server_with_generation_config("generation-config"); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static json call(const std::string& route, json body) {
    const auto r = http_call(server_->port(), "POST", route, body.dump());
    EXPECT_EQ(r.status, 200u) << body.dump() << " -> " << r.body;
    return json::parse(r.body);
  }
  static json completion(json body) {
    body.emplace("prompt", kPrompt);
    return call("/v1/completions", body);
  }
  static std::vector<int32_t> greedy_ids(int max_tokens) {
    SamplingParams p;
    p.temperature = 0.0f;
    p.max_tokens = max_tokens;
    p.ignore_eos = true;
    const auto prompt = server_->folder().text.tokenizer.encode(kPrompt, true);
    return SequenceGenerator(server_->model(), {.block_size = 16, .prefill_chunk = 0, .eos_token_ids = {}})
        .generate(prompt, p).ids;
  }
  static std::string decode(const std::vector<int32_t>& ids) { return server_->folder().text.tokenizer.decode(ids, true); }
  static inline test::TestServer* server_ = nullptr;
};

TEST_F(ServeGenerationConfig, ItsValuesAreDefaultsARequestOverrides) {
  // The fixture's temperature 0: a request that names none is greedy...
  const json greedy = completion({{"max_tokens", 4}, {"ignore_eos", true}});
  EXPECT_EQ(greedy["choices"][0]["text"], decode(greedy_ids(4)));
  // ...and one that names a temperature samples (a seed pins it; flat logits make it differ).
  const json sampled = completion({{"max_tokens", 4}, {"ignore_eos", true}, {"temperature", 1.0}, {"seed", 7}});
  EXPECT_NE(sampled["choices"][0]["text"], greedy["choices"][0]["text"]);
}

TEST_F(ServeGenerationConfig, MaxNewTokensCapsTheDefaultLengthOnly) {
  // Completions' default of 16 and chat's rest-of-context both become the fixture's 5...
  EXPECT_EQ(completion({{"ignore_eos", true}})["usage"]["completion_tokens"], 5);
  const json chat = call("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"ignore_eos", true}});
  EXPECT_EQ(chat["usage"]["completion_tokens"], 5);
  // ...while a request's own max_tokens is the request's.
  EXPECT_EQ(completion({{"ignore_eos", true}, {"max_tokens", 8}})["usage"]["completion_tokens"], 8);
}

TEST_F(ServeGenerationConfig, ItsExtraEosIdStopsGeneration) {
  ASSERT_EQ(greedy_ids(1).front(), kExtraEos) << "the demo model's greedy token changed: update the fixture's eos_token_id";
  const json stopped = completion({{"max_tokens", 4}});
  EXPECT_EQ(stopped["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(stopped["usage"]["completion_tokens"], 1);
  EXPECT_EQ(stopped["choices"][0]["text"], "");  // an EOS's text is left out, as vLLM does
  // ignore_eos holds it off, as for the model's own EOS.
  EXPECT_EQ(completion({{"max_tokens", 4}, {"ignore_eos", true}})["usage"]["completion_tokens"], 4);
}

// A server whose generation_config.json asks to sample (temperature 0.5) and adds the EOS id the
// demo model's greedy first token is.
class GenerationConfigOnOtherRoutes : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = server_with_generation_config("generation-config-sampling");
    ASSERT_EQ(server_->shared_folder()->generation.params.temperature, 0.5f);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static json call(const std::string& route, const json& body) {
    const auto r = http_call(server_->port(), "POST", route, body.dump());
    EXPECT_EQ(r.status, 200u) << route << " " << body.dump() << " -> " << r.body;
    return json::parse(r.body);
  }
  // Four tokens of kPrompt with `fields` (a seed makes them repeatable), whichever EOS comes.
  static std::string completion_text(json fields) {
    fields.update({{"prompt", kPrompt}, {"max_tokens", 4}, {"ignore_eos", true}});
    return call("/v1/completions", fields)["choices"][0]["text"];
  }
  static inline test::TestServer* server_ = nullptr;
};

TEST_F(GenerationConfigOnOtherRoutes, TheOpenAIRoutesTakeItsTemperature) {
  const std::string by_default = completion_text({{"seed", 7}});
  EXPECT_EQ(by_default, completion_text({{"seed", 7}, {"temperature", 0.5}}));
  EXPECT_NE(by_default, completion_text({{"seed", 7}, {"temperature", 1.0}})) << "the fixture's temperature changed nothing";
}

TEST_F(GenerationConfigOnOtherRoutes, TgiStaysGreedyAndStopsOnItsExtraEosId) {
  // No parameters: greedy, as TGI is, so the first token is the extra EOS id, which ends it (a
  // sample at the config's temperature would almost never be that one token, twice).
  for (int i = 0; i < 2; ++i) {
    const json r = call("/generate", {{"inputs", kPrompt}, {"parameters", {{"max_new_tokens", 4}, {"details", true}}}});
    EXPECT_EQ(r["details"]["finish_reason"], "eos_token") << r.dump();
    EXPECT_EQ(r["details"]["generated_tokens"], 1) << r.dump();
  }
  // do_sample without a temperature samples at TGI's 1.0, not at the config's 0.5.
  const json sampled = call("/generate", {{"inputs", kPrompt},
                                          {"parameters", {{"max_new_tokens", 4}, {"do_sample", true}, {"seed", 7}, {"ignore_eos", true}}}});
  EXPECT_EQ(sampled["generated_text"], completion_text({{"seed", 7}, {"temperature", 1.0}}));
  // The streaming route parses the same way: one event, the extra EOS, the text complete.
  const auto stream = http_call(server_->port(), "POST", "/generate_stream",
                                json{{"inputs", kPrompt}, {"parameters", {{"max_new_tokens", 4}}}}.dump());
  const auto events = test::sse_events(stream.body);
  ASSERT_EQ(events.size(), 1u) << stream.body;
  EXPECT_EQ(json::parse(events[0])["token"]["id"], kExtraEos) << stream.body;
  EXPECT_EQ(json::parse(events[0])["generated_text"], "") << stream.body;
}

TEST_F(GenerationConfigOnOtherRoutes, TritonKeepsItsDefaultsAndStopsOnItsExtraEosId) {
  const std::string route = "/v2/models/demo-model/generate";
  // No temperature: Triton's vLLM backend samples at SamplingParams' 1.0, not the config's 0.5.
  EXPECT_EQ(call(route, {{"text_input", kPrompt}, {"max_tokens", 4}, {"seed", 7}, {"ignore_eos", true}})["text_output"],
            completion_text({{"seed", 7}, {"temperature", 1.0}}));
  // Greedy: the extra EOS id ends it at once, its text left out.
  EXPECT_EQ(call(route, {{"text_input", kPrompt}, {"max_tokens", 4}, {"temperature", 0}})["text_output"], "");
}

}  // namespace
}  // namespace troupe
