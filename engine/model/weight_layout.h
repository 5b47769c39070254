#pragma once
// Where each Hugging Face tensor of a model lands: one of the model's weights (q/k/v fused into
// Qkv, gate/up into GateUp, as the forward passes want them) at an element offset. The CPU
// loader, the dummy generator and the GPU upload all read this one list, so they agree on names,
// shapes and fusion.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/checkpoint.h"
#include "engine/model/layer_split.h"
#include "engine/model/model_config.h"

namespace troupe {

enum class WeightKind { Embed, InputNorm, Qkv, QkvBias, O, OBias, PostNorm, GateUp, GateUpBias, Down, DownBias, FinalNorm, LmHead };

struct WeightPart {
  std::string name;            // the checkpoint's tensor name
  std::vector<int64_t> shape;  // the shape the checkpoint must hold, from config.json
  WeightKind kind;
  int64_t layer;               // -1 for model-wide weights
  int64_t offset;              // elements into the (fused) weight where this tensor starts
  int64_t numel() const;
};

// Every tensor the config calls for (biases only where the config has them; no LM head when it
// is tied to the embedding), in checkpoint order: model-wide first, then layer by layer.
std::vector<WeightPart> weight_layout(const ModelConfig& config);

// The tensors one pipeline stage holds, in the same order: its layers' weights, the embedding on
// the first stage, the final norm and the LM head on the last (with tied embeddings the last stage
// holds the embedding matrix, as its LM head). weight_layout(config) is the stage of all layers.
std::vector<WeightPart> weight_layout(const ModelConfig& config, LayerRange layers);

// [rows, cols] of a whole (fused) weight; norms and biases are one row.
std::pair<int64_t, int64_t> weight_dims(const ModelConfig& config, WeightKind kind);

// The checkpoint's tensor for `part`; a LoadError naming the file when it is missing or its shape
// is not the one config.json implies.
const TensorView& checked_tensor(const Checkpoint& checkpoint, const WeightPart& part);

}  // namespace troupe
