#include "engine/model/forward_batch.h"

namespace troupe {

void ForwardBatch::add_sequence(const int32_t* tokens, int32_t n, int32_t context_len,
                                const std::vector<int32_t>& block_table, int32_t block_size,
                                bool wants_logits) {
  SequenceSlice s;
  s.token_begin = num_tokens();
  s.num_tokens = n;
  s.context_len = context_len;
  s.block_table = block_table;
  s.wants_logits = wants_logits;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t pos = context_len - n + i;
    token_ids.push_back(tokens[i]);
    positions.push_back(pos);
    slot_mapping.push_back(block_table[pos / block_size] * block_size + pos % block_size);
  }
  sequences.push_back(std::move(s));
}

}  // namespace troupe
