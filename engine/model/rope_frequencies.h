#pragma once
#include <vector>

#include "engine/model/model_config.h"

namespace troupe {

// The head_dim / 2 inverse frequencies of rotary embeddings, with llama3 scaling applied when the
// config asks for it. Computed in fp32 the way transformers does, so angles round identically.
std::vector<float> rope_inv_freq(const ModelConfig& config);

}  // namespace troupe
