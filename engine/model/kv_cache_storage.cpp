#include "engine/model/kv_cache_storage.h"

namespace troupe {

KvCacheStorage::KvCacheStorage(const ModelConfig& c, int32_t num_blocks, int32_t block_size)
    : num_blocks_(num_blocks),
      block_size_(block_size),
      kv_heads_(c.num_kv_heads),
      head_dim_(c.head_dim),
      layer_floats_(int64_t{num_blocks} * block_size * c.num_kv_heads * c.head_dim),
      k_(layer_floats_ * c.num_layers),
      v_(layer_floats_ * c.num_layers) {}

cpu::PagedKvLayer KvCacheStorage::layer(int64_t i) {
  return {k_.data() + i * layer_floats_, v_.data() + i * layer_floats_, block_size_, kv_heads_,
          head_dim_};
}

int64_t KvCacheStorage::bytes_per_block(const ModelConfig& c, int32_t block_size) {
  return 2 * c.num_layers * int64_t{block_size} * c.kv_size() * static_cast<int64_t>(sizeof(float));
}

}  // namespace troupe
