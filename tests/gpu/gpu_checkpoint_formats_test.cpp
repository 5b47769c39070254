// Checkpoints stored in fp32 or fp16 reach the GPU converted on the device (the host never holds
// a widened copy): the fixture model rewritten in fp32 gives exactly the logits of its bf16
// file (every bf16 value is an fp32 value, and the device rounds it back to itself), and in fp16
// the same within fp16's rounding of the smallest weights. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model/checkpoint.h"
#include "engine/model/model_config.h"
#include "engine/model/safetensors.h"
#include "engine/runtime/gpu_backend.h"
#include "gpu_test_util.h"

namespace troupe {
namespace {

namespace fs = std::filesystem;

// fp32 -> IEEE half, round to nearest even (no host half type in C++20 here).
uint16_t to_half(float f) {
  uint32_t x = 0;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const int32_t exp = static_cast<int32_t>((x >> 23) & 0xffu) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;
  if (((x >> 23) & 0xffu) == 0xffu) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0u));
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  const auto round = [](uint32_t kept, uint32_t rest, uint32_t halfway) {
    return rest > halfway || (rest == halfway && (kept & 1u)) ? kept + 1 : kept;
  };
  if (exp <= 0) {  // subnormal (or zero)
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - exp;
    return static_cast<uint16_t>(sign | round(mant >> shift, mant & ((1u << shift) - 1), 1u << (shift - 1)));
  }
  return static_cast<uint16_t>(round(sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13), mant & 0x1fffu, 0x1000u));
}

// A copy of fixture model `name` whose weights file stores every tensor as `dtype`.
fs::path rewrite_in(const std::string& name, DType dtype) {
  const fs::path src = fixtures_dir() / "models" / name;
  const fs::path dst = fs::temp_directory_path() / ("troupe-" + name + "-" + dtype_name(dtype));
  fs::remove_all(dst);
  fs::create_directories(dst);
  fs::copy_file(src / "config.json", dst / "config.json");
  const SafetensorsFile in = SafetensorsFile::open(src / "model.safetensors");
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [tensor, view] : in.tensors()) {
    std::vector<float> values(static_cast<size_t>(view.numel()));
    view.to_float(values.data());
    const size_t begin = data.size();
    for (float v : values) {
      if (dtype == DType::F32) {
        data.append(reinterpret_cast<const char*>(&v), 4);
      } else {
        const uint16_t h = to_half(v);
        data.append(reinterpret_cast<const char*>(&h), 2);
      }
    }
    header[tensor] = {{"dtype", dtype_name(dtype)}, {"shape", view.shape}, {"data_offsets", {begin, data.size()}}};
  }
  std::string text = header.dump();
  while (text.size() % 8) text += ' ';
  const uint64_t n = text.size();
  std::ofstream out(dst / "model.safetensors", std::ios::binary);
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << text << data;
  return dst;
}

std::vector<float> gpu_logits(const fs::path& dir, const std::vector<int32_t>& prompt) {
  const ModelConfig config = load_model_config(dir / "config.json");
  const Checkpoint checkpoint = Checkpoint::open(dir);
  const GpuBackendOptions o{.device = 0, .memory_utilization = 0.9, .max_num_seqs = 8, .max_num_batched_tokens = 256,
                            .block_size = 16, .num_blocks = 64, .cuda_graphs = false, .tune_gemms = false};
  return prompt_logits(*make_gpu_backend(config, &checkpoint, 0, o), prompt);
}

TEST(GpuCheckpointFormats, Fp32AndFp16FilesGiveTheLogitsOfTheBf16File) {
  if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device found";
  const std::vector<int32_t> prompt{3, 141, 59, 26, 353, 89, 79, 32, 38, 46, 26, 43, 383, 27, 95};  // vocab 384
  const fs::path bf16 = fixtures_dir() / "models" / "tiny-qwen2";
  const auto expected = gpu_logits(bf16, prompt);
  const fs::path f32 = rewrite_in("tiny-qwen2", DType::F32), f16 = rewrite_in("tiny-qwen2", DType::F16);
  EXPECT_EQ(gpu_logits(f32, prompt), expected);
  EXPECT_LT(rel_l2(gpu_logits(f16, prompt), expected), 1e-2);
  fs::remove_all(f32);
  fs::remove_all(f16);
}

}  // namespace
}  // namespace troupe
