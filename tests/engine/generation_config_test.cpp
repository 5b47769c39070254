// generation_config.json as vLLM reads it: which keys become request defaults, which are named
// unused, how the override merges, and which mistakes are refused naming the file and key.
#include "engine/generation_config.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/load_error.h"

namespace troupe {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kFixture = fs::path(TROUPE_FIXTURES_DIR) / "generation-config";

// The LoadError's message, or "" when none is thrown.
template <class F>
std::string load_error(F&& f) {
  try {
    f();
  } catch (const LoadError& e) {
    return e.what();
  }
  return "";
}

TEST(GenerationConfig, SamplingKeysBecomeDefaultsAndTheRestIsNamedUnused) {
  const GenerationDefaults d = read_generation_defaults(
      json{{"temperature", 0.6}, {"top_p", 0.9}, {"top_k", 20}, {"min_p", 0.05}, {"repetition_penalty", 1.1},
           {"max_new_tokens", 256}, {"eos_token_id", {1, 2}}, {"do_sample", true}, {"max_length", 4096},
           {"pad_token_id", nullptr}},
      "g.json");
  EXPECT_FLOAT_EQ(d.params.temperature, 0.6f);
  EXPECT_FLOAT_EQ(d.params.top_p, 0.9f);
  EXPECT_EQ(d.params.top_k, 20);
  EXPECT_FLOAT_EQ(d.params.min_p, 0.05f);
  EXPECT_FLOAT_EQ(d.params.repetition_penalty, 1.1f);
  EXPECT_EQ(d.max_new_tokens, 256);
  EXPECT_EQ(d.eos_token_ids, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(d.unused, (std::vector<std::string>{"do_sample", "max_length"}));  // nulls are not keys given
  EXPECT_EQ(d.applied.size(), 7u);
  // One id is a list of one (most configs), and what is not given keeps vLLM's default.
  const GenerationDefaults one = read_generation_defaults(json{{"eos_token_id", 7}}, "g.json");
  EXPECT_EQ(one.eos_token_ids, (std::vector<int32_t>{7}));
  EXPECT_FLOAT_EQ(one.params.temperature, 1.0f);
  EXPECT_FALSE(one.max_new_tokens);
}

TEST(GenerationConfig, BadValuesAreRefusedNamingFileAndKey) {
  auto refused = [](json config) { return load_error([&] { read_generation_defaults(config, "g.json"); }); };
  EXPECT_NE(refused({{"temperature", "hot"}}).find("g.json: temperature"), std::string::npos);
  EXPECT_NE(refused({{"top_p", 0}}).find("top_p"), std::string::npos);
  EXPECT_NE(refused({{"max_new_tokens", 0}}).find("max_new_tokens"), std::string::npos);
  EXPECT_NE(refused({{"eos_token_id", {1, "x"}}}).find("eos_token_id"), std::string::npos);
  EXPECT_NE(refused(json::array()).find("object"), std::string::npos);
}

TEST(GenerationConfig, ModesAsVllm) {
  // auto: the model folder's file; a folder: its file; vllm: none at all.
  const GenerationDefaults from_folder = load_generation_defaults("auto", kFixture, "");
  EXPECT_EQ(from_folder.source, (kFixture / "generation_config.json").string());
  EXPECT_EQ(from_folder.max_new_tokens, 5);
  EXPECT_EQ(load_generation_defaults(kFixture.string(), "/nonexistent", "").max_new_tokens, 5);
  EXPECT_TRUE(load_generation_defaults("vllm", kFixture, "").source.empty());
  EXPECT_FALSE(load_generation_defaults("vllm", kFixture, "").max_new_tokens);
  // auto on a folder without one is no defaults; a folder named explicitly must have one.
  EXPECT_TRUE(load_generation_defaults("auto", kFixture.parent_path(), "").source.empty());
  EXPECT_NE(load_error([&] { load_generation_defaults(kFixture.parent_path().string(), "/x", ""); })
                .find("generation_config.json: missing file"), std::string::npos);
  EXPECT_NE(load_error([&] { load_generation_defaults("/nonexistent-dir", "/x", ""); }).find("auto, vllm or a folder"),
            std::string::npos);
}

TEST(GenerationConfig, OverrideMergesKeyByKeyInAnyMode) {
  const GenerationDefaults d = load_generation_defaults("auto", kFixture, R"({"max_new_tokens": 9, "top_k": 3})");
  EXPECT_EQ(d.max_new_tokens, 9);
  EXPECT_EQ(d.params.top_k, 3);
  EXPECT_FLOAT_EQ(d.params.temperature, 0.0f);  // the file's, untouched
  EXPECT_NE(d.source.find("--override-generation-config"), std::string::npos);
  EXPECT_FLOAT_EQ(load_generation_defaults("vllm", kFixture, R"({"temperature": 0.5})").params.temperature, 0.5f);
  // A key nothing applies would be silently dropped: refused by name instead.
  EXPECT_NE(load_error([&] { load_generation_defaults("vllm", kFixture, R"({"do_sample": false})"); })
                .find("'do_sample' is not applied"), std::string::npos);
  EXPECT_NE(load_error([&] { load_generation_defaults("vllm", kFixture, "{"); }).find("not JSON"), std::string::npos);
}

}  // namespace
}  // namespace troupe
