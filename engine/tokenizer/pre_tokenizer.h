#pragma once
// Pre-tokenizers of tokenizer.json: Sequence, Split (regex or literal, every split behaviour, invert),
// ByteLevel and Digits. They cut normalized text into the pieces the BPE model merges within; a merge
// never crosses a piece boundary, which is what keeps BPE cheap and cacheable.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace troupe {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their sub-pieces, in order. Empty pieces are dropped, as HF does.
  virtual void split(std::vector<std::string>& pieces) const = 0;
};

// nullptr for a JSON null. Throws std::invalid_argument for an unsupported type or a bad regex.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& spec);

}  // namespace troupe
