#include "engine/model/layer_split.h"

#include <stdexcept>
#include <string>

namespace troupe {

std::vector<LayerRange> split_layers(int64_t num_layers, int32_t num_stages) {
  if (num_stages < 1 || num_stages > num_layers)
    throw std::invalid_argument("cannot split " + std::to_string(num_layers) + " layers into " +
                                std::to_string(num_stages) + " pipeline stages (1 to " + std::to_string(num_layers) +
                                " stages, each with at least one layer)");
  std::vector<int64_t> sizes(static_cast<size_t>(num_stages), num_layers / num_stages);
  for (int64_t i = 0; i < num_layers % num_stages; ++i) sizes[static_cast<size_t>(num_stages - 2 - i)] += 1;
  std::vector<LayerRange> out;
  int64_t begin = 0;
  for (int64_t n : sizes) {
    out.push_back({begin, begin + n});
    begin += n;
  }
  return out;
}

}  // namespace troupe
