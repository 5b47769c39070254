#include "engine/kv/block_hash.h"

#include <xxhash.h>  // XXH64

#include <cstring>
#include <vector>

namespace troupe {

uint64_t block_key(uint64_t parent_key, std::span<const int32_t> tokens) {
  // One contiguous buffer so the key is exactly XXH64 of the concatenation (a block is small:
  // 16 tokens are 72 bytes here).
  std::vector<unsigned char> bytes(sizeof(parent_key) + tokens.size_bytes());
  std::memcpy(bytes.data(), &parent_key, sizeof(parent_key));
  if (!tokens.empty()) std::memcpy(bytes.data() + sizeof(parent_key), tokens.data(), tokens.size_bytes());
  return XXH64(bytes.data(), bytes.size(), /*seed=*/0);
}

}  // namespace troupe
