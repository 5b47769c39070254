#include "engine/tokenizer/post_processor.h"

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace troupe {

namespace {

int32_t token_pair_id(const nlohmann::json& pair, const char* field) {
  // Bert/Roberta store their tokens as ["[CLS]", 101].
  if (!pair.is_array() || pair.size() != 2) throw std::invalid_argument(std::string(field) + " must be [token, id]");
  return pair[1].get<int32_t>();
}

PostProcessor from_template(const nlohmann::json& spec) {
  PostProcessor wrap;
  bool seen_sequence = false;
  for (const auto& item : spec.at("single")) {
    if (item.contains("Sequence")) {
      if (item.at("Sequence").at("id").get<std::string>() != "A") {
        throw std::invalid_argument("TemplateProcessing single template may only use sequence A");
      }
      seen_sequence = true;
    } else if (item.contains("SpecialToken")) {
      const std::string name = item.at("SpecialToken").at("id").get<std::string>();
      const auto& specials = spec.at("special_tokens");
      if (!specials.contains(name)) {
        throw std::invalid_argument("TemplateProcessing names special token \"" + name + "\" it does not define");
      }
      auto& side = seen_sequence ? wrap.suffix : wrap.prefix;
      for (const auto& id : specials.at(name).at("ids")) side.push_back(id.get<int32_t>());
    } else {
      throw std::invalid_argument("TemplateProcessing item is neither Sequence nor SpecialToken");
    }
  }
  return wrap;
}

}  // namespace

void PostProcessor::apply(std::vector<int32_t>& ids, bool add_special_tokens) const {
  if (!add_special_tokens || (prefix.empty() && suffix.empty())) return;
  ids.insert(ids.begin(), prefix.begin(), prefix.end());
  ids.insert(ids.end(), suffix.begin(), suffix.end());
}

PostProcessor make_post_processor(const nlohmann::json& spec) {
  if (spec.is_null()) return {};
  const std::string type = spec.at("type").get<std::string>();
  if (type == "ByteLevel") return {};  // only trims offsets, which we do not report
  if (type == "TemplateProcessing") return from_template(spec);
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    return {{token_pair_id(spec.at("cls"), "cls")}, {token_pair_id(spec.at("sep"), "sep")}};
  }
  if (type == "Sequence") {
    // Applying A then B wraps A's output: B.prefix + A.prefix + ids + A.suffix + B.suffix.
    PostProcessor folded;
    for (const auto& step : spec.at("processors")) {
      const PostProcessor next = make_post_processor(step);
      folded.prefix.insert(folded.prefix.begin(), next.prefix.begin(), next.prefix.end());
      folded.suffix.insert(folded.suffix.end(), next.suffix.begin(), next.suffix.end());
    }
    return folded;
  }
  throw std::invalid_argument("unsupported post_processor type \"" + type + "\"");
}

}  // namespace troupe
