// A model's generation_config.json over HTTP: its values are the defaults a request's fields
// override, max_new_tokens caps the default length, and its extra EOS id ends a sequence
// (tests/fixtures/generation-config, read as `--generation-config DIR` reads it).
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

class ServeGenerationConfig : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ModelFolder folder = open_model_folder(std::string(TROUPE_CACHE_DIR) + "/demo-model");
    apply_generation_defaults(folder, load_generation_defaults(std::string(TROUPE_FIXTURES_DIR) + "/generation-config",
                                                               folder.dir, ""));
    test::TestServerOptions o;
    o.folder = std::make_shared<const ModelFolder>(std::move(folder));
    server_ = new test::TestServer(o);
  }
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

}  // namespace
}  // namespace troupe
