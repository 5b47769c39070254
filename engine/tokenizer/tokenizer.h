#pragma once
// Tokenizer: a Hugging Face tokenizer.json (byte-level BPE as Llama 3 and Qwen2/3 ship it) loaded into
// an immutable pipeline: added tokens -> normalizer -> pre-tokenizer -> BPE -> post-processor, and
// ids -> decoder -> text. encode() returns what HF's `tokenizer.encode(text).ids` returns.
// A Tokenizer is cheap to copy (copies share one loaded pipeline) and safe to use from many threads.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace troupe {

class Tokenizer {
 public:
  // Throws LoadError (engine/load_error.h) naming the file for anything wrong: missing file, bad JSON,
  // a model / normalizer / pre_tokenizer / post_processor / decoder we do not implement, a bad regex.
  static Tokenizer from_file(const std::filesystem::path& tokenizer_json);
  // The same from text already read; `origin` is only used in error messages.
  static Tokenizer from_json_text(std::string_view json_text, const std::filesystem::path& origin);

  // Invalid UTF-8 in `text` is first repaired (U+FFFD per bad subpart), since HF only takes strings.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Unknown ids are skipped; bytes that do not form UTF-8 become U+FFFD, as HF decodes.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;
  // decode() before the UTF-8 repair: what IncrementalDetokenizer streams from.
  std::string decode_bytes(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  bool is_special(int32_t id) const;
  int32_t vocab_size() const;  // max id + 1 over vocab and added tokens

 private:
  struct Pipeline;
  explicit Tokenizer(std::shared_ptr<const Pipeline> pipeline);
  void encode_plain(std::string_view text, std::vector<int32_t>& ids) const;

  std::shared_ptr<const Pipeline> pipeline_;
};

}  // namespace troupe
