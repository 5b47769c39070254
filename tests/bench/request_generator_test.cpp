// RequestGenerator: lengths stay in their range, id prompts stay in their id range, text prompts
// have exactly the drawn token length, and bodies carry the fixed benchmark settings.
#include <gtest/gtest.h>

#include <filesystem>

#include "bench/loadgen/request_generator.h"

namespace troupe::loadgen {
namespace {

TEST(RequestGenerator, SampledLengthsCoverTheWholeRangeAndNoMore) {
  std::mt19937_64 rng(1);
  int32_t lo = 1 << 30, hi = 0;
  for (int i = 0; i < 20000; ++i) {
    const int32_t n = sample_length(100, 0.25, rng);
    lo = std::min(lo, n);
    hi = std::max(hi, n);
  }
  EXPECT_EQ(lo, 75);
  EXPECT_EQ(hi, 125);
}

TEST(RequestGenerator, ZeroRangeIsExactAndLengthsAreAtLeastOne) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sample_length(128, 0.0, rng), 128);
  for (int i = 0; i < 100; ++i) EXPECT_GE(sample_length(1, 1.0, rng), 1);  // [0, 2] clamped to [1, 2]
}

TEST(RequestGenerator, IdPromptsHaveTheirLengthAndIdsInRange) {
  RequestGenerator gen({.input_len = 64, .input_len_range = 0.5, .output_len = 32, .output_len_range = 0.5}, 42);
  for (int i = 0; i < 200; ++i) {
    const PlannedRequest r = gen.next();
    ASSERT_TRUE(r.prompt.is_array());
    EXPECT_EQ(r.prompt_tokens, static_cast<int32_t>(r.prompt.size()));
    EXPECT_GE(r.prompt_tokens, 32);
    EXPECT_LE(r.prompt_tokens, 96);
    EXPECT_GE(r.output_tokens, 16);
    EXPECT_LE(r.output_tokens, 48);
    for (const auto& id : r.prompt) {
      EXPECT_GE(id.get<int32_t>(), 1000);
      EXPECT_LT(id.get<int32_t>(), 30000);
    }
  }
}

TEST(RequestGenerator, SameSeedSameRequests) {
  RequestGenerator a({}, 5), b({}, 5);
  EXPECT_EQ(a.next().prompt, b.next().prompt);
}

TEST(RequestGenerator, TextPromptsEncodeToExactlyTheDrawnLength) {
  const auto path = std::filesystem::path(TROUPE_CACHE_DIR) / "tokenizers" / "qwen3" / "tokenizer.json";
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing: run scripts/fetch_test_data.sh";
  const Tokenizer tok = Tokenizer::from_file(path);
  RequestGenerator gen({.input_len = 100, .input_len_range = 0.3, .output_len = 8}, 3, tok);
  for (int i = 0; i < 20; ++i) {
    const PlannedRequest r = gen.next();
    ASSERT_TRUE(r.prompt.is_string());
    const auto ids = tok.encode(r.prompt.get<std::string>(), /*add_special_tokens=*/false);
    EXPECT_EQ(static_cast<int32_t>(ids.size()), r.prompt_tokens);  // the reported length is true
    EXPECT_GE(r.prompt_tokens, 70);
    EXPECT_LE(r.prompt_tokens, 130);
  }
}

TEST(RequestGenerator, BodyCarriesTheBenchmarkSettings) {
  const PlannedRequest r{.prompt = nlohmann::json::array({1001, 1002}), .prompt_tokens = 2, .output_tokens = 16};
  const auto j = nlohmann::json::parse(request_body(r, ApiFlavor::Completions, "m", {{"top_p", 0.5}}));
  EXPECT_EQ(j["model"], "m");
  EXPECT_EQ(j["prompt"], nlohmann::json::array({1001, 1002}));
  EXPECT_EQ(j["max_tokens"], 16);
  EXPECT_EQ(j["ignore_eos"], true);
  EXPECT_EQ(j["stream"], true);
  EXPECT_EQ(j["stream_options"]["include_usage"], true);
  EXPECT_EQ(j["temperature"], 0);
  EXPECT_EQ(j["top_p"], 0.5);
  const PlannedRequest text{.prompt = "hello", .prompt_tokens = 1, .output_tokens = 4};
  const auto chat = nlohmann::json::parse(request_body(text, ApiFlavor::Chat, "", {}));
  EXPECT_FALSE(chat.contains("model"));
  EXPECT_EQ(chat["messages"][0]["content"], "hello");
  EXPECT_EQ(api_flavor_of("/v1/chat/completions/"), ApiFlavor::Chat);
  EXPECT_EQ(api_flavor_of("/v1/completions"), ApiFlavor::Completions);
}

}  // namespace
}  // namespace troupe::loadgen
