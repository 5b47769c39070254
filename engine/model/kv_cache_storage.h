#pragma once
// KvCacheStorage: the physical KV blocks of every layer in host memory. It holds numbers only;
// which block belongs to whom is the block pool's business, not this class's. A pipeline stage's
// cache holds its own layers only; block indices mean the same in every stage (one pool, one
// block table per sequence, each stage writing its layers' share of a block).
#include <cstdint>
#include <vector>

#include "engine/model/layer_split.h"
#include "engine/model/model_config.h"
#include "engine/model/tensor_shard.h"
#include "kernels/cpu/paged_attention.h"

namespace troupe {

class KvCacheStorage {
 public:
  // Every layer of the model.
  KvCacheStorage(const ModelConfig& config, int32_t num_blocks, int32_t block_size);
  // The layers of one pipeline stage.
  KvCacheStorage(const ModelConfig& config, LayerRange layers, int32_t num_blocks, int32_t block_size);
  // The KV heads of one tensor-parallel rank (shard.kv_heads) of those layers: a TP group's ranks
  // each hold their own heads of every block, so the group holds tp times one rank's tokens.
  KvCacheStorage(const ModelConfig& config, LayerRange layers, const TpShard& shard, int32_t num_blocks,
                 int32_t block_size);

  // Decoder layer i (the model's numbering), which this cache must hold.
  cpu::PagedKvLayer layer(int64_t i);
  LayerRange layers() const { return layers_; }
  int32_t num_blocks() const { return num_blocks_; }
  int32_t block_size() const { return block_size_; }
  // Bytes one block takes over all layers, K and V: what sizing a pool from memory divides by.
  static int64_t bytes_per_block(const ModelConfig& config, int32_t block_size);
  static int64_t bytes_per_block(const ModelConfig& config, const TpShard& shard, int32_t block_size);

 private:
  LayerRange layers_;
  int32_t num_blocks_;
  int32_t block_size_;
  int64_t kv_heads_, head_dim_, layer_floats_;
  std::vector<float> k_;  // [layers_.size(), num_blocks, block_size, kv_heads, head_dim]
  std::vector<float> v_;  // same
};

}  // namespace troupe
