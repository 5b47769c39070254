#pragma once
// IncrementalDetokenizer: turns generated ids, fed one at a time, into text deltas for streaming.
// Invariants: every delta is valid UTF-8 (bytes of an unfinished character are held back until a
// later token completes or breaks them), and the concatenation of all deltas plus flush() equals
// Tokenizer::decode of all the ids with the same skip_special_tokens.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace troupe {

class IncrementalDetokenizer {
 public:
  // Keeps a copy of `tokenizer`, which shares its tables: no lifetime to manage.
  explicit IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens = false);

  // The text that `id` completes; empty while a character is still unfinished.
  std::string push(int32_t id);
  // Whatever is held back at the end of the stream (an unfinished character becomes U+FFFD).
  std::string flush();

 private:
  Tokenizer tokenizer_;
  bool skip_special_tokens_;
  // Ids decoded together on each push: the last already-emitted token (as context, so that decoders
  // that look at neighbours see the same thing as a full decode) and every id since.
  std::vector<int32_t> window_;
  size_t emitted_bytes_ = 0;  // bytes of decode_bytes(window_) already streamed or owned by context
};

}  // namespace troupe
