#pragma once
// Post-processors of tokenizer.json for single sequences. Every supported kind (ByteLevel: nothing;
// TemplateProcessing, BertProcessing, RobertaProcessing, and Sequences of them) only wraps the
// sequence in fixed special-token ids, so the whole chain folds into one prefix and one suffix at load.
#include <cstdint>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace troupe {

struct PostProcessor {
  std::vector<int32_t> prefix;  // e.g. {BOS}
  std::vector<int32_t> suffix;

  // The ids HF's encode returns: wrapped only when add_special_tokens is true.
  void apply(std::vector<int32_t>& ids, bool add_special_tokens) const;
};

// Throws std::invalid_argument for an unsupported type or a template naming an unknown special token.
PostProcessor make_post_processor(const nlohmann::json& spec);

}  // namespace troupe
