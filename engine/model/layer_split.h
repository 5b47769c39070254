#pragma once
// Pipeline parallelism cuts a model's decoder layers into consecutive ranges, one per stage.
// Stage 0 also holds the embedding, the last stage the final norm and the LM head (and, when the
// embeddings are tied, the embedding matrix as the LM head). A LayerRange is what one stage holds;
// the whole model is the range [0, num_layers). The cluster placement (engine/cluster/placement.h)
// and the one-process pipeline (--pipeline-parallel) both split with split_layers.
#include <cstdint>
#include <vector>

#include "engine/model/model_config.h"

namespace troupe {

// A half-open range of indices [begin, end): of layers here, of heads, intermediate columns or
// vocabulary rows in a tensor-parallel shard (engine/model/tensor_shard.h).
struct IndexRange {
  int64_t begin = 0;
  int64_t end = 0;

  int64_t size() const { return end - begin; }
  bool contains(int64_t i) const { return i >= begin && i < end; }
  bool operator==(const IndexRange&) const = default;
};

using LayerRange = IndexRange;  // decoder layers [begin, end) of one pipeline stage

inline LayerRange all_layers(const ModelConfig& c) { return {0, c.num_layers}; }
// The stage that embeds token ids.
inline bool is_first_stage(LayerRange r) { return r.begin == 0; }
// The stage that turns hidden states into logits.
inline bool is_last_stage(LayerRange r, const ModelConfig& c) { return r.end == c.num_layers; }

// num_layers split into num_stages consecutive, non-empty ranges whose sizes differ by at most
// one, as vLLM splits them (vllm.distributed.utils.get_pp_indices): the extra layers go to the
// stages before the last, from the second-to-last backwards, so layer ranges match vLLM's and
// the last stage, which also runs the final norm, the LM head and sampling, never gets one.
// Balanced by layer count only: on a model whose vocabulary dwarfs its layers the last stage is
// still the slow one. Throws std::invalid_argument unless 1 <= num_stages <= num_layers.
std::vector<LayerRange> split_layers(int64_t num_layers, int32_t num_stages);

}  // namespace troupe
