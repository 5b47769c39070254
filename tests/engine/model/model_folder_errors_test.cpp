// Every problem in a model folder ends in a LoadError naming the file and what is wrong.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "engine/load_error.h"
#include "engine/model/checkpoint.h"
#include "engine/model/model_config.h"
#include "engine/model/model_weights.h"
#include "fixture_model.h"

namespace troupe {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A scratch copy of a fixture model that a test may break.
class BrokenModelFolder : public ::testing::Test {
 protected:
  virtual std::string fixture() const { return "tiny-qwen2"; }
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("troupe-broken-" + std::string(info->test_suite_name()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::copy(test::fixture_model_dir(fixture()), dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void load() {
    ModelConfig c = load_model_config(dir_ / "config.json");
    load_weights(c, Checkpoint::open(dir_));
  }
  // Expects load() to throw a LoadError whose message names `file` and contains `what`.
  void expect_error(const std::string& file, const std::string& what) {
    try {
      load();
      FAIL() << "no error; expected one about " << file << ": " << what;
    } catch (const LoadError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(file), std::string::npos) << msg;
      EXPECT_NE(msg.find(what), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
    }
  }
  json read_config() { return json::parse(std::ifstream(dir_ / "config.json")); }
  void write_config(const json& j) { std::ofstream(dir_ / "config.json") << j.dump(2); }
  std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  void write_bytes(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
  // Rewrites the safetensors header through `edit`, keeping the data bytes.
  void edit_header(const std::function<void(json&)>& edit) {
    const fs::path p = dir_ / "model.safetensors";
    std::string bytes = read_bytes(p);
    uint64_t len;
    std::memcpy(&len, bytes.data(), 8);
    json h = json::parse(bytes.substr(8, len));
    edit(h);
    std::string header = h.dump();
    const uint64_t new_len = header.size();
    std::string out(8, '\0');
    std::memcpy(out.data(), &new_len, 8);
    write_bytes(p, out + header + bytes.substr(8 + len));
  }

  fs::path dir_;
};

TEST_F(BrokenModelFolder, IntactCopyLoads) { EXPECT_NO_THROW(load()); }

TEST_F(BrokenModelFolder, MissingConfig) {
  fs::remove(dir_ / "config.json");
  expect_error("config.json", "cannot open");
}

TEST_F(BrokenModelFolder, ConfigIsNotJson) {
  write_bytes(dir_ / "config.json", "{\"vocab_size\": 12,");
  expect_error("config.json", "invalid JSON");
}

TEST_F(BrokenModelFolder, ConfigMissesAKey) {
  json j = read_config();
  j.erase("hidden_size");
  write_config(j);
  expect_error("config.json", "missing key 'hidden_size'");
}

TEST_F(BrokenModelFolder, ConfigKeyOfTheWrongType) {
  json j = read_config();
  j["num_hidden_layers"] = "two";
  write_config(j);
  expect_error("config.json", "'num_hidden_layers' must be an integer");
}

TEST_F(BrokenModelFolder, UnsupportedArchitecture) {
  json j = read_config();
  j["architectures"] = {"GPTNeoXForCausalLM"};
  write_config(j);
  expect_error("config.json", "unsupported architecture 'GPTNeoXForCausalLM'");
}

TEST_F(BrokenModelFolder, UnsupportedRopeScaling) {
  json j = read_config();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  write_config(j);
  expect_error("config.json", "rope_scaling type 'yarn' is not supported");
}

TEST_F(BrokenModelFolder, HeadsNotAMultipleOfKvHeads) {
  json j = read_config();
  j["num_key_value_heads"] = 3;
  write_config(j);
  expect_error("config.json", "must be a multiple of num_key_value_heads");
}

TEST_F(BrokenModelFolder, MissingWeightsFile) {
  fs::remove(dir_ / "model.safetensors");
  expect_error(dir_.filename().string(), "no model.safetensors");
}

TEST_F(BrokenModelFolder, TruncatedWeightsFile) {
  const fs::path p = dir_ / "model.safetensors";
  const std::string bytes = read_bytes(p);
  write_bytes(p, bytes.substr(0, bytes.size() - 1000));
  expect_error("model.safetensors", "outside the data area");
}

TEST_F(BrokenModelFolder, FileShorterThanItsHeader) {
  const fs::path p = dir_ / "model.safetensors";
  write_bytes(p, read_bytes(p).substr(0, 100));
  expect_error("model.safetensors", "truncated");
}

TEST_F(BrokenModelFolder, HeaderIsNotJson) {
  const fs::path p = dir_ / "model.safetensors";
  std::string bytes = read_bytes(p);
  bytes[8] = '[';
  bytes[9] = '!';
  write_bytes(p, bytes);
  expect_error("model.safetensors", "header is not valid JSON");
}

TEST_F(BrokenModelFolder, HeaderLiesAboutOffsets) {
  edit_header([](json& h) {
    auto& off = h["model.layers.0.input_layernorm.weight"]["data_offsets"];
    off[1] = off[1].get<uint64_t>() + 2;
  });
  expect_error("model.safetensors", "data_offsets span");
}

TEST_F(BrokenModelFolder, HeaderLiesAboutDtype) {
  edit_header([](json& h) { h["model.norm.weight"]["dtype"] = "F32"; });
  expect_error("model.safetensors", "tensor 'model.norm.weight': shape [64] of F32 needs 256 bytes");
}

TEST_F(BrokenModelFolder, UnsupportedDtype) {
  edit_header([](json& h) { h["model.norm.weight"]["dtype"] = "I8"; });
  expect_error("model.safetensors", "unsupported dtype 'I8'");
}

TEST_F(BrokenModelFolder, OverlappingTensors) {
  edit_header([](json& h) {
    h["model.norm.weight"]["data_offsets"] = h["model.embed_tokens.weight"]["data_offsets"];
    h["model.norm.weight"]["shape"] = h["model.embed_tokens.weight"]["shape"];
  });
  expect_error("model.safetensors", "overlap");
}

TEST_F(BrokenModelFolder, TensorOfTheWrongShape) {
  json j = read_config();
  j["intermediate_size"] = 96;
  write_config(j);
  expect_error("model.safetensors", "has shape [128, 64], expected [96, 64]");
}

TEST_F(BrokenModelFolder, MissingTensor) {
  edit_header([](json& h) { h.erase("model.layers.1.mlp.down_proj.weight"); });
  expect_error("model.safetensors", "missing tensor 'model.layers.1.mlp.down_proj.weight'");
}

// The sharded fixture: its index and shards can break in their own ways.
class BrokenShardedFolder : public BrokenModelFolder {
 protected:
  std::string fixture() const override { return "tiny-llama3"; }
};

TEST_F(BrokenShardedFolder, IntactCopyLoads) { EXPECT_NO_THROW(load()); }

TEST_F(BrokenShardedFolder, MissingShard) {
  fs::remove(dir_ / "model-00002-of-00002.safetensors");
  expect_error("model-00002-of-00002.safetensors", "missing shard");
}

TEST_F(BrokenShardedFolder, IndexIsNotJson) {
  write_bytes(dir_ / "model.safetensors.index.json", "{\"weight_map\": ");
  expect_error("model.safetensors.index.json", "invalid JSON");
}

TEST_F(BrokenShardedFolder, IndexPointsAtTheWrongShard) {
  json j = json::parse(std::ifstream(dir_ / "model.safetensors.index.json"));
  auto& entry = j["weight_map"]["model.norm.weight"];
  entry = entry == "model-00001-of-00002.safetensors" ? "model-00002-of-00002.safetensors"
                                                      : "model-00001-of-00002.safetensors";
  std::ofstream(dir_ / "model.safetensors.index.json") << j.dump();
  expect_error("-of-00002.safetensors", "missing tensor 'model.norm.weight' (the index says it is here)");
}

}  // namespace
}  // namespace troupe
