#pragma once
// What a launch says about the model beyond its folder, in vLLM's terms: the context length
// (max_model_len), the compute dtype, the KV cache's dtype and a quantization method. `troupe
// serve` takes them as --max-model-len, --dtype, --kv-cache-dtype and --quantization; a cluster
// file as [model] keys of the same names. Both ask these functions, so the rules live once and
// the two spellings refuse the same values for the same reason.
//
// Each check returns why the value cannot be honoured, starting with the value ("fp8 is not
// supported yet: ..."), or "" when it can; the caller puts its own flag or key in front.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/model/model_config.h"

namespace troupe {

// vLLM's names for the dtypes we know (half = float16, float = float32); other names are refused.
inline constexpr std::array<std::string_view, 6> kDtypeNames = {"auto", "bfloat16", "float16", "half", "float32",
                                                                "float"};

// auto, or the one dtype the backend computes in: bfloat16 on CUDA (`gpu`), float32 on the CPU.
std::string dtype_refusal(std::string_view dtype, bool gpu);

// auto only: the KV cache is kept in the compute dtype (FP8 is not built yet).
std::string kv_cache_dtype_refusal(std::string_view kv_cache_dtype);

// None (empty) only: the loaders read unquantized BF16, F16 or F32 safetensors.
std::string quantization_refusal(std::string_view quantization);

// max_model_len > 0 becomes the context every request is checked against, /v1/models reports and
// a GPU sizes for — config.max_position_embeddings, which it may lower but never raise (RoPE was
// trained to that length). 0 leaves the model's. Returns why not, leaving config unchanged.
std::string apply_max_model_len(int64_t max_model_len, ModelConfig& config);

}  // namespace troupe
