#pragma once
// Prefix-cache keys. The KV of a block depends on every token before it, not only its own, so a
// full block's key chains its prefix block's key with its own token ids:
//   key(block 0) = XXH64(kRootBlockKey ‖ tokens[0, B)),  key(block i) = XXH64(key(i-1) ‖ tokens of i)
// Equal keys therefore mean equal token histories up to the block's end, up to a 64-bit collision;
// BlockPool also compares the stored tokens and parent key on every hit so that a collision at
// the last link is a miss, not wrong KV.
// Token ids are hashed in host byte order: keys are an in-process index, not a wire format.
#include <cstdint>
#include <span>

namespace troupe {

inline constexpr uint64_t kRootBlockKey = 0;  // the "parent key" of a sequence's first block

// xxHash64 of (parent_key ‖ tokens).
uint64_t block_key(uint64_t parent_key, std::span<const int32_t> tokens);

// The shape of block_key; tests substitute a degenerate one to force collisions.
using BlockKeyFn = uint64_t (*)(uint64_t parent_key, std::span<const int32_t> tokens);

}  // namespace troupe
