#pragma once
// KvCacheStorage: the physical KV blocks of every layer in host memory. It holds numbers only;
// which block belongs to whom is the block pool's business, not this class's.
#include <cstdint>
#include <vector>

#include "engine/model/model_config.h"
#include "kernels/cpu/paged_attention.h"

namespace troupe {

class KvCacheStorage {
 public:
  KvCacheStorage(const ModelConfig& config, int32_t num_blocks, int32_t block_size);

  cpu::PagedKvLayer layer(int64_t i);
  int32_t num_blocks() const { return num_blocks_; }
  int32_t block_size() const { return block_size_; }
  // Bytes one block takes over all layers, K and V: what sizing a pool from memory divides by.
  static int64_t bytes_per_block(const ModelConfig& config, int32_t block_size);

 private:
  int32_t num_blocks_;
  int32_t block_size_;
  int64_t kv_heads_, head_dim_, layer_floats_;
  std::vector<float> k_;  // [layers, num_blocks, block_size, kv_heads, head_dim]
  std::vector<float> v_;  // same
};

}  // namespace troupe
