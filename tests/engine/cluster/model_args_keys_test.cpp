// A cluster file's [model] keys for vLLM's model arguments (max_model_len, dtype, kv_cache_dtype,
// quantization, enforce_eager) take what serve's flags of the same names take, and refuse what
// they refuse for the same reason (engine/model/model_args.h), named by file, line and key. The
// length is checked against the model's context once config.json is read (load_cluster_model).
#include <gtest/gtest.h>

#include <string>

#include "cluster_test_util.h"
#include "engine/cluster/cluster_model.h"
#include "engine/model/model_args.h"

namespace troupe {
namespace {

// Two CPU executors, or with `cuda` two nodes on GPU 0; `keys` go on line 4, the first after path.
std::string file_with(const std::string& keys, bool cuda = false) {
  const std::string gpus = cuda ? "gpus = [0]\n" : "";
  return "[model]\npath = \"demo-qwen2\"\nload_format = \"dummy\"\n" + keys + "\npipeline_parallel = 2\n" +
         std::string(cuda ? "device = \"cuda\"\n" : "") +
         "[[node]]\nname = \"head\"\naddress = \"127.0.0.1:4300\"\n"
         "roles = [\"gateway\", \"scheduler\", \"kv_manager\", \"executor\"]\n" +
         gpus + "[[node]]\nname = \"worker-1\"\naddress = \"127.0.0.1:4301\"\nroles = [\"executor\"]\n" + gpus;
}

ConfigError refusal_of(const std::string& text) {
  try {
    parse_cluster_config(text, "cluster.toml");
  } catch (const ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "parsed without error:\n" << text;
  return ConfigError("", 0, "", "");
}

TEST(ModelArgsKeys, AbsentTheyAreServesDefaults) {
  const ModelSection m = parse_cluster_config(file_with(""), "cluster.toml").model;
  EXPECT_EQ(m.max_model_len, 0);  // the model's
  EXPECT_EQ(m.dtype, "auto");
  EXPECT_EQ(m.kv_cache_dtype, "auto");
  EXPECT_EQ(m.quantization, "");
  EXPECT_FALSE(m.enforce_eager);
}

TEST(ModelArgsKeys, WhatServeTakesLandsInItsField) {
  const ModelSection m = parse_cluster_config(file_with("max_model_len = 64\ndtype = \"float32\"\nkv_cache_dtype = "
                                                        "\"auto\"\nquantization = \"\"\nenforce_eager = true"),
                                              "cluster.toml")
                             .model;
  EXPECT_EQ(m.max_model_len, 64);
  EXPECT_EQ(m.dtype, "float32");
  EXPECT_EQ(m.kv_cache_dtype, "auto");
  EXPECT_EQ(m.quantization, "");
  EXPECT_TRUE(m.enforce_eager);
  // Every spelling of the backend's own dtype, as serve's --dtype: float32 on the CPU, bfloat16 on CUDA.
  for (const char* cpu : {"auto", "float32", "float"})
    EXPECT_EQ(parse_cluster_config(file_with(std::string("dtype = \"") + cpu + "\""), "c.toml").model.dtype, cpu);
  for (const char* gpu : {"auto", "bfloat16"})
    EXPECT_EQ(parse_cluster_config(file_with(std::string("dtype = \"") + gpu + "\"", true), "c.toml").model.dtype, gpu);
}

struct Refused {
  const char* keys;
  bool cuda;
  const char* key;
  std::string reason;  // the whole reason: serve's flag gives the same after its name
};

TEST(ModelArgsKeys, WhatServeRefusesIsRefusedAtItsKeyForTheSameReason) {
  const Refused cases[] = {
      {"dtype = \"float16\"", false, "model.dtype", dtype_refusal("float16", false)},
      {"dtype = \"half\"", false, "model.dtype", dtype_refusal("half", false)},
      {"dtype = \"float32\"", true, "model.dtype", dtype_refusal("float32", true)},
      {"dtype = \"int8\"", false, "model.dtype", dtype_refusal("int8", false)},
      {"kv_cache_dtype = \"fp8\"", false, "model.kv_cache_dtype", kv_cache_dtype_refusal("fp8")},
      {"quantization = \"awq\"", false, "model.quantization", quantization_refusal("awq")},
      {"max_model_len = 0", false, "model.max_model_len", "0 is out of range (1 to 2147483647)"},
      {"max_model_len = \"4096\"", false, "model.max_model_len", "expected an integer, got a string"},
      {"enforce_eager = \"yes\"", false, "model.enforce_eager", "expected true or false, got a string"},
  };
  for (const Refused& c : cases) {
    const ConfigError e = refusal_of(file_with(c.keys, c.cuda));
    EXPECT_EQ(e.line(), 4) << c.keys << ": " << e.what();
    EXPECT_EQ(e.key(), c.key) << c.keys << ": " << e.what();
    EXPECT_EQ(e.reason(), c.reason) << c.keys << ": " << e.what();
  }
  // The reasons read as serve's errors do after the flag's name.
  EXPECT_EQ(dtype_refusal("float16", false),
            "float16 is not supported on the CPU: this backend computes in float32 only (use auto or float32)");
  EXPECT_EQ(dtype_refusal("int8", false), "int8 is not one of auto, bfloat16, float16, half, float32, float");
  EXPECT_EQ(kv_cache_dtype_refusal("fp8").rfind("fp8 is not supported yet", 0), 0u);
  EXPECT_EQ(quantization_refusal("awq").rfind("awq is not supported yet", 0), 0u);
}

TEST(ModelArgsKeys, MaxModelLenBecomesTheContextOrIsRefusedAtItsLine) {
  ClusterConfig c = parse_cluster_config(file_with("max_model_len = 64"), "/nowhere/cluster.toml");
  const auto presets = test::config_dir() / "presets";
  EXPECT_EQ(load_cluster_model(c, presets).config.max_position_embeddings, 64);
  c.model.max_model_len = 0;  // absent: the model's own
  const int64_t own = load_cluster_model(c, presets).config.max_position_embeddings;
  EXPECT_GT(own, 64);
  c.model.max_model_len = own + 1;
  try {
    load_cluster_model(c, presets);
    FAIL() << "a length past the model's was taken";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 4) << e.what();
    EXPECT_EQ(e.key(), "model.max_model_len");
    ModelConfig model;
    model.max_position_embeddings = own;
    EXPECT_EQ(e.reason(), apply_max_model_len(own + 1, model)) << e.what();
    EXPECT_NE(e.reason().find("is longer than the model's context"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace troupe
