#include "engine/cluster/model_fit.h"

#include "engine/model/tensor_shard.h"  // tensor_parallel_misfit

namespace troupe {

std::vector<std::string> validate_model_fit(const ClusterConfig& c, const ModelConfig& m) {
  const int64_t tp = c.model.tensor_parallel, pp = c.model.pipeline_parallel;
  const auto n = [](int64_t v) { return std::to_string(v); };
  if (pp > m.num_layers)
    throw c.error("model.pipeline_parallel", "pipeline_parallel " + n(pp) + " is deeper than the model's " +
                                                 n(m.num_layers) + " layers (every stage needs at least one layer)");
  if (const std::string why = tensor_parallel_misfit(m, tp); !why.empty()) throw c.error("model.tensor_parallel", why);
  std::vector<std::string> notes;
  if (m.num_kv_heads < tp)
    notes.push_back("KV heads replicated: the model has " + n(m.num_kv_heads) + " KV heads for " + n(tp) +
                    " tensor-parallel ranks, so each KV head (and its cache) is held by " + n(tp / m.num_kv_heads) +
                    " ranks, as vLLM does");
  return notes;
}

}  // namespace troupe
