#include "engine/tokenizer/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "engine/load_error.h"
#include "engine/tokenizer/added_tokens.h"
#include "engine/tokenizer/bpe_model.h"
#include "engine/tokenizer/decoder.h"
#include "engine/tokenizer/normalizer.h"
#include "engine/tokenizer/post_processor.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/tokenizer_json.h"
#include "engine/text/utf8.h"

namespace troupe {

struct Tokenizer::Pipeline {
  std::unique_ptr<Normalizer> normalizer;        // may be null
  std::unique_ptr<PreTokenizer> pre_tokenizer;   // may be null: the whole segment is one piece
  std::unique_ptr<BpeModel> model;
  AddedVocabulary added;
  PostProcessor post_processor;
  std::unique_ptr<Decoder> decoder;              // may be null: tokens joined with spaces
};

namespace {

const nlohmann::json& field_or_null(const nlohmann::json& root, const char* key) {
  static const nlohmann::json kNull;
  const auto it = root.find(key);
  return it == root.end() ? kNull : *it;
}

}  // namespace

Tokenizer::Tokenizer(std::shared_ptr<const Pipeline> pipeline) : pipeline_(std::move(pipeline)) {}

Tokenizer Tokenizer::from_file(const std::filesystem::path& tokenizer_json) {
  std::ifstream in(tokenizer_json, std::ios::binary);
  if (!in) throw LoadError(tokenizer_json, "cannot open tokenizer file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw LoadError(tokenizer_json, "cannot read tokenizer file");
  return from_json_text(text.str(), tokenizer_json);
}

Tokenizer Tokenizer::from_json_text(std::string_view json_text, const std::filesystem::path& origin) {
  TokenizerJson file;
  try {
    file = read_tokenizer_json(json_text);
  } catch (const std::exception& e) {
    throw LoadError(origin, e.what());
  }
  const nlohmann::json& root = file.root;
  if (!root.is_object()) throw LoadError(origin, "not a tokenizer.json: the top level is not an object");
  const char* part = "model";
  try {
    auto pipeline = std::make_shared<Pipeline>();
    if (!root.contains("model")) throw std::invalid_argument("no \"model\" object");
    pipeline->model = BpeModel::from_json(root.at("model"), file.bpe);
    part = "normalizer";
    pipeline->normalizer = make_normalizer(field_or_null(root, "normalizer"));
    part = "pre_tokenizer";
    pipeline->pre_tokenizer = make_pre_tokenizer(field_or_null(root, "pre_tokenizer"));
    part = "added_tokens";
    pipeline->added = AddedVocabulary(field_or_null(root, "added_tokens"), pipeline->normalizer.get());
    part = "post_processor";
    pipeline->post_processor = make_post_processor(field_or_null(root, "post_processor"));
    part = "decoder";
    pipeline->decoder = make_decoder(field_or_null(root, "decoder"));
    return Tokenizer(std::move(pipeline));
  } catch (const nlohmann::json::exception& e) {
    throw LoadError(origin, std::string("malformed ") + part + ": " + e.what());
  } catch (const std::exception& e) {
    throw LoadError(origin, std::string(part) + ": " + e.what());
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::string repaired;
  if (!utf8::is_valid(text)) {
    repaired = utf8::to_valid(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  // Added tokens that match raw text are cut out first; the stretches between them are normalized.
  for (const TextSegment& segment : pipeline_->added.raw_matcher().split(text)) {
    if (segment.token != nullptr) {
      ids.push_back(segment.token->id);
      continue;
    }
    const std::string_view stretch = text.substr(segment.begin, segment.end - segment.begin);
    if (!pipeline_->normalizer) {
      encode_plain(stretch, ids);
      continue;
    }
    const std::string normalized = pipeline_->normalizer->normalize(stretch);
    if (!pipeline_->added.has_normalized_tokens()) {
      encode_plain(normalized, ids);
      continue;
    }
    const std::string_view view(normalized);
    for (const TextSegment& inner : pipeline_->added.normalized_matcher().split(view)) {
      if (inner.token != nullptr) {
        ids.push_back(inner.token->id);
      } else {
        encode_plain(view.substr(inner.begin, inner.end - inner.begin), ids);
      }
    }
  }
  pipeline_->post_processor.apply(ids, add_special_tokens);
  return ids;
}

void Tokenizer::encode_plain(std::string_view text, std::vector<int32_t>& ids) const {
  if (text.empty()) return;
  std::vector<std::string> pieces{std::string(text)};
  if (pipeline_->pre_tokenizer) pipeline_->pre_tokenizer->split(pieces);
  for (const std::string& piece : pieces) pipeline_->model->tokenize(piece, ids);
}

std::string Tokenizer::decode_bytes(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int32_t id : ids) {
    if (const AddedToken* added = pipeline_->added.by_id(id)) {
      if (!(skip_special_tokens && added->special)) tokens.push_back(added->content);
    } else if (const auto token = pipeline_->model->id_to_token(id)) {
      tokens.emplace_back(*token);
    }
  }
  std::string text;
  if (pipeline_->decoder) {
    pipeline_->decoder->decode_chain(tokens);
    for (const std::string& token : tokens) text += token;
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) text += ' ';
      text += tokens[i];
    }
  }
  return text;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  const std::string bytes = decode_bytes(ids, skip_special_tokens);
  return utf8::is_valid(bytes) ? bytes : utf8::to_valid(bytes);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* added = pipeline_->added.by_content(token)) return added->id;
  return pipeline_->model->token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (const AddedToken* added = pipeline_->added.by_id(id)) return added->content;
  if (const auto token = pipeline_->model->id_to_token(id)) return std::string(*token);
  return std::nullopt;
}

bool Tokenizer::is_special(int32_t id) const {
  const AddedToken* added = pipeline_->added.by_id(id);
  return added != nullptr && added->special;
}

int32_t Tokenizer::vocab_size() const {
  return std::max(pipeline_->model->max_id(), pipeline_->added.max_id()) + 1;
}

}  // namespace troupe
