#pragma once
// ForwardBatch: one model step over several sequences, as plain data. Tokens of all sequences are
// packed back to back; each sequence says which slice of them is its own, how long its context is
// once this step's tokens are in the cache, and which physical KV blocks hold that context.
// A prefill, a chunk of a prefill and a decode step are the same thing with different q_len.
#include <cstdint>
#include <vector>

namespace troupe {

struct SequenceSlice {
  int32_t token_begin = 0;   // first of this sequence's tokens in ForwardBatch::token_ids
  int32_t num_tokens = 0;    // tokens computed this step (q_len)
  int32_t context_len = 0;   // tokens in the cache after this step, these included
  std::vector<int32_t> block_table;  // physical block of each logical block of the context
  bool wants_logits = true;  // false for a prefill chunk that is not the prompt's last
  // Prompt logprobs (SamplingParams::prompt_logprobs): the first prompt_targets.size() tokens of
  // this slice are scored too, token i's logits against prompt_targets[i] (the prompt token that
  // follows it) with prompt_top_n alternatives. Empty for a slice that asked for none.
  std::vector<int32_t> prompt_targets;
  int32_t prompt_top_n = 0;
};

struct ForwardBatch {
  std::vector<int32_t> token_ids;     // [num_tokens]
  std::vector<int32_t> positions;     // [num_tokens]
  std::vector<int32_t> slot_mapping;  // [num_tokens]: block * block_size + offset of each token
  std::vector<SequenceSlice> sequences;
  std::vector<float> hidden_states;   // [num_tokens, hidden]: a later pipeline stage's input, the
                                      // stage before's output; empty for the first stage (and the
                                      // whole model), which embeds token_ids instead

  int32_t num_tokens() const { return static_cast<int32_t>(token_ids.size()); }
  // Appends a sequence's next num_tokens tokens (positions context_len - num_tokens ...).
  void add_sequence(const int32_t* tokens, int32_t num_tokens, int32_t context_len,
                    const std::vector<int32_t>& block_table, int32_t block_size, bool wants_logits);
};

}  // namespace troupe
