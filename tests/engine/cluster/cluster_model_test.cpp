// model.path finds a folder (relative to the cluster file) or else a preset; a preset can only
// run with dummy weights; anything else names what it looked for.
#include <gtest/gtest.h>

#include <unistd.h>  // getpid

#include <fstream>

#include "cluster_test_util.h"
#include "engine/cluster/cluster_model.h"

namespace troupe {
namespace {

namespace fs = std::filesystem;

ClusterConfig with_model(const fs::path& file, const std::string& path, const std::string& load_format) {
  ClusterConfig c = test::cluster_of(1, 1, ClusterDevice::Cpu, {1});
  c.file = file;
  c.model.path = path;
  c.model.load_format = load_format;
  c.lines["model.path"] = 2;
  c.lines["model.load_format"] = 3;
  return c;
}

const fs::path kPresets = test::config_dir() / "presets";

TEST(ClusterModel, APresetNameFindsItsConfig) {
  const ClusterModel m = load_cluster_model(with_model("/nowhere/cluster.toml", "llama-3-8b", "dummy"), kPresets);
  EXPECT_TRUE(m.preset);
  EXPECT_EQ(m.dir, kPresets / "llama-3-8b");
  EXPECT_EQ(m.config.num_layers, 32);
}

TEST(ClusterModel, APresetNeedsDummyWeights) {
  try {
    load_cluster_model(with_model("cluster.toml", "llama-3-8b", "auto"), kPresets);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 3);
    EXPECT_EQ(e.key(), "model.load_format");
    EXPECT_NE(e.reason().find("set load_format = \"dummy\""), std::string::npos) << e.what();
  }
}

TEST(ClusterModel, ARelativeFolderIsFoundBesideTheFile) {
  const fs::path dir = fs::temp_directory_path() / ("troupe-cluster-model-" + std::to_string(::getpid()));
  fs::create_directories(dir / "models" / "tiny");
  fs::copy_file(fs::path(TROUPE_FIXTURES_DIR) / "models" / "tiny-llama3" / "config.json",
                dir / "models" / "tiny" / "config.json", fs::copy_options::overwrite_existing);
  const ClusterModel m = load_cluster_model(with_model(dir / "cluster.toml", "models/tiny", "auto"), kPresets);
  EXPECT_FALSE(m.preset);
  EXPECT_EQ(m.dir, dir / "models" / "tiny");
  EXPECT_EQ(m.config.num_layers, 3);
  // An absolute path is taken as it is.
  const ClusterModel abs = load_cluster_model(with_model("x/cluster.toml", (dir / "models/tiny").string(), "auto"), kPresets);
  EXPECT_EQ(abs.config.hidden_size, 96);
  fs::remove_all(dir);
}

TEST(ClusterModel, AMissingModelListsThePresets) {
  try {
    load_cluster_model(with_model("/nowhere/cluster.toml", "llama-4", "dummy"), kPresets);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 2);
    EXPECT_EQ(e.key(), "model.path");
    EXPECT_NE(e.reason().find("'llama-4' is neither a model folder (no /nowhere/llama-4)"), std::string::npos)
        << e.what();
    EXPECT_NE(e.reason().find("(demo-qwen2, llama-3-8b, qwen2.5-0.5b)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace troupe
