#pragma once
// Pipeline parallelism cuts a model's decoder layers into consecutive ranges, one per stage.
// Stage 0 also holds the embedding, the last stage the final norm and the LM head (and, when the
// embeddings are tied, the embedding matrix as the LM head). A LayerRange is what one stage holds;
// the whole model is the range [0, num_layers).
#include <cstdint>
#include <vector>

#include "engine/model/model_config.h"

namespace troupe {

struct LayerRange {
  int64_t begin = 0;  // first decoder layer of the stage
  int64_t end = 0;    // one past its last

  int64_t size() const { return end - begin; }
  bool contains(int64_t layer) const { return layer >= begin && layer < end; }
  bool operator==(const LayerRange&) const = default;
};

inline LayerRange all_layers(const ModelConfig& c) { return {0, c.num_layers}; }
// The stage that embeds token ids.
inline bool is_first_stage(LayerRange r) { return r.begin == 0; }
// The stage that turns hidden states into logits.
inline bool is_last_stage(LayerRange r, const ModelConfig& c) { return r.end == c.num_layers; }

// num_layers split into num_stages consecutive, non-empty ranges whose sizes differ by at most one,
// the earlier stages taking the extra layers (vLLM's default split). Balanced by layer count only:
// the last stage's LM head (and stage 0's embedding gather, which is cheap) come on top, so on a
// model whose vocabulary dwarfs its layers the last stage is the slow one. Throws
// std::invalid_argument unless 1 <= num_stages <= num_layers.
std::vector<LayerRange> split_layers(int64_t num_layers, int32_t num_stages);

}  // namespace troupe
