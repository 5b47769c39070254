#pragma once
// What the GPU backend tests share: where the fixtures are, one prompt's last logits through a backend (optionally in
// chunks) and the relative L2 distance used to compare logits.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "engine/model/forward_batch.h"
#include "engine/runtime/model_backend.h"

namespace troupe {

// tests/fixtures, or TROUPE_FIXTURES_DIR when set (the GPU machine's copy of the tree).
inline std::filesystem::path fixtures_dir() {
  const char* root = std::getenv("TROUPE_FIXTURES_DIR");
  return std::filesystem::path(root ? root : TROUPE_FIXTURES_DIR);
}

// Blocks 0..n-1 of a freshly made 64-block pool for one sequence of n_tokens.
inline std::vector<int32_t> own_blocks(ModelBackend& b, int32_t n_tokens) {
  b.allocate_kv_cache(64, 16);
  std::vector<int32_t> table;
  for (int32_t i = 0; i < (n_tokens + 15) / 16; ++i) table.push_back(i);
  return table;
}

inline std::vector<float> prompt_logits(ModelBackend& b, const std::vector<int32_t>& ids, int32_t chunk = 0) {
  const auto n = static_cast<int32_t>(ids.size());
  const std::vector<int32_t> table = own_blocks(b, n);
  if (chunk <= 0) chunk = n;
  std::vector<float> logits;
  for (int32_t done = 0; done < n; done += chunk) {
    const int32_t len = std::min(chunk, n - done);
    ForwardBatch batch;
    batch.add_sequence(ids.data() + done, len, done + len, table, 16, done + len == n);
    logits = b.logits(batch);
  }
  return logits;
}

inline double rel_l2(const std::vector<float>& a, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num += (double{a[i]} - ref[i]) * (double{a[i]} - ref[i]);
    den += double{ref[i]} * ref[i];
  }
  return std::sqrt(num / den);
}

}  // namespace troupe
