#include "engine/tokenizer/incremental_detokenizer.h"

#include <algorithm>

#include "engine/text/utf8.h"

namespace troupe {

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string IncrementalDetokenizer::push(int32_t id) {
  window_.push_back(id);
  const std::string bytes = tokenizer_.decode_bytes(window_, skip_special_tokens_);
  // Cut before an unfinished trailing character; everything before the cut is final, because UTF-8
  // repair never looks further back than the start of the character it is working on.
  if (bytes.size() < emitted_bytes_) return {};  // a decoder that rewrites its past; wait for flush()
  const size_t ready = std::max(emitted_bytes_, bytes.size() - utf8::incomplete_tail(bytes));
  std::string delta = utf8::to_valid(std::string_view(bytes).substr(emitted_bytes_, ready - emitted_bytes_));
  emitted_bytes_ = ready;
  if (ready == bytes.size()) {
    // Nothing held back: restart the window at this token so each push decodes O(1) tokens.
    window_.assign(1, id);
    emitted_bytes_ = tokenizer_.decode_bytes(window_, skip_special_tokens_).size();
  }
  return delta;
}

std::string IncrementalDetokenizer::flush() {
  const std::string bytes = tokenizer_.decode_bytes(window_, skip_special_tokens_);
  std::string rest;
  if (bytes.size() > emitted_bytes_) rest = utf8::to_valid(std::string_view(bytes).substr(emitted_bytes_));
  window_.clear();
  emitted_bytes_ = 0;
  return rest;
}

}  // namespace troupe
