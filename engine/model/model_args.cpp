#include "engine/model/model_args.h"

#include <algorithm>

namespace troupe {

std::string dtype_refusal(std::string_view dtype, bool gpu) {
  if (std::find(kDtypeNames.begin(), kDtypeNames.end(), dtype) == kDtypeNames.end()) {
    std::string names;
    for (std::string_view n : kDtypeNames) names += (names.empty() ? "" : ", ") + std::string(n);
    return std::string(dtype) + " is not one of " + names;
  }
  const std::string have = gpu ? "bfloat16" : "float32";
  const std::string_view canonical = dtype == "half" ? "float16" : dtype == "float" ? "float32" : dtype;
  if (canonical == "auto" || canonical == have) return "";
  return std::string(dtype) + " is not supported on " + (gpu ? "CUDA" : "the CPU") + ": this backend computes in " +
         have + " only (use auto or " + have + ")";
}

std::string kv_cache_dtype_refusal(std::string_view kv_cache_dtype) {
  if (kv_cache_dtype == "auto") return "";
  return std::string(kv_cache_dtype) +
         " is not supported yet: only auto (the KV cache in the compute dtype); FP8 is not built yet";
}

std::string quantization_refusal(std::string_view quantization) {
  if (quantization.empty()) return "";
  return std::string(quantization) + " is not supported yet: only unquantized BF16, F16 or F32 safetensors load";
}

std::string apply_max_model_len(int64_t max_model_len, ModelConfig& config) {
  if (max_model_len == 0) return "";
  if (max_model_len < 0) return std::to_string(max_model_len) + " is not a length: give a positive number of tokens";
  if (max_model_len > config.max_position_embeddings)
    return std::to_string(max_model_len) + " is longer than the model's context (max_position_embeddings " +
           std::to_string(config.max_position_embeddings) + " in config.json)";
  config.max_position_embeddings = max_model_len;
  return "";
}

}  // namespace troupe
