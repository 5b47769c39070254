#pragma once
// Normalizers of tokenizer.json: the Unicode normal forms (utf8proc) and Sequence. They run on each
// stretch of text between added tokens, before pre-tokenization.
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace troupe {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `text` is valid UTF-8, and so is the result.
  virtual std::string normalize(std::string_view text) const = 0;
};

// nullptr for a JSON null. Throws std::invalid_argument for a type we do not implement.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& spec);

}  // namespace troupe
