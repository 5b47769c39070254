#include "engine/model/kv_cache_storage.h"

#include <stdexcept>
#include <string>

namespace troupe {

KvCacheStorage::KvCacheStorage(const ModelConfig& c, int32_t num_blocks, int32_t block_size)
    : KvCacheStorage(c, all_layers(c), num_blocks, block_size) {}

KvCacheStorage::KvCacheStorage(const ModelConfig& c, LayerRange layers, int32_t num_blocks, int32_t block_size)
    : KvCacheStorage(c, layers, whole_model_shard(c), num_blocks, block_size) {}

KvCacheStorage::KvCacheStorage(const ModelConfig& c, LayerRange layers, const TpShard& shard, int32_t num_blocks,
                               int32_t block_size)
    : layers_(layers),
      num_blocks_(num_blocks),
      block_size_(block_size),
      kv_heads_(shard.kv_heads.size()),
      head_dim_(c.head_dim),
      layer_floats_(int64_t{num_blocks} * block_size * kv_heads_ * c.head_dim),
      k_(layer_floats_ * layers.size()),
      v_(layer_floats_ * layers.size()) {}

cpu::PagedKvLayer KvCacheStorage::layer(int64_t i) {
  if (!layers_.contains(i))
    throw std::logic_error("KV cache of layers [" + std::to_string(layers_.begin) + ", " + std::to_string(layers_.end) +
                           ") asked for layer " + std::to_string(i));
  const int64_t at = (i - layers_.begin) * layer_floats_;
  return {k_.data() + at, v_.data() + at, block_size_, kv_heads_, head_dim_};
}

int64_t KvCacheStorage::bytes_per_block(const ModelConfig& c, int32_t block_size) {
  return bytes_per_block(c, whole_model_shard(c), block_size);
}

int64_t KvCacheStorage::bytes_per_block(const ModelConfig& c, const TpShard& shard, int32_t block_size) {
  return 2 * c.num_layers * int64_t{block_size} * shard.kv_heads.size() * c.head_dim * static_cast<int64_t>(sizeof(float));
}

}  // namespace troupe
