#include "engine/tokenizer/added_tokens.h"

#include <utf8proc.h>  // utf8proc_category: word characters for single_word

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "engine/tokenizer/normalizer.h"
#include "engine/text/utf8.h"

namespace troupe {

namespace {

// Rust regex's Unicode \w: letters, marks, decimal and letter numbers, connector punctuation, joiners.
bool is_word_char(char32_t cp) {
  if (cp == 0x200C || cp == 0x200D) return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

// Unicode White_Space, which is what HF's \s means here.
bool is_space(char32_t cp) {
  if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x85) return true;
  const auto category = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return category == UTF8PROC_CATEGORY_ZS || category == UTF8PROC_CATEGORY_ZL || category == UTF8PROC_CATEGORY_ZP;
}

char32_t first_char(std::string_view s) {
  size_t pos = 0;
  return utf8::decode(s, pos);
}

char32_t last_char(std::string_view s) {
  size_t start = s.size() - 1;
  while (start > 0 && (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80) --start;
  return first_char(s.substr(start));
}

size_t whitespace_run_before(std::string_view text, size_t end) {
  size_t begin = end;
  while (begin > 0) {
    size_t start = begin - 1;
    while (start > 0 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
    if (!is_space(first_char(text.substr(start, begin - start)))) break;
    begin = start;
  }
  return end - begin;
}

size_t whitespace_run_after(std::string_view text, size_t begin) {
  size_t end = begin;
  while (end < text.size()) {
    size_t next = end;
    if (!is_space(utf8::decode(text, next))) break;
    end = next;
  }
  return end - begin;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<std::pair<std::string, const AddedToken*>>& patterns) {
  for (const auto& [pattern, token] : patterns) {
    if (pattern.empty()) continue;
    int32_t node = 0;
    for (char c : pattern) {
      const auto byte = static_cast<uint8_t>(c);
      auto& children = nodes_[node].children;
      const auto it = std::find_if(children.begin(), children.end(), [&](const auto& e) { return e.first == byte; });
      if (it != children.end()) {
        node = it->second;
      } else {
        const auto child = static_cast<int32_t>(nodes_.size());
        children.emplace_back(byte, child);
        nodes_.emplace_back();  // invalidates `children`; not used again in this iteration
        node = child;
      }
    }
    // Two tokens with the same content: HF resolves both to the id listed last.
    nodes_[node].token = token;
    first_byte_[static_cast<uint8_t>(pattern[0])] = true;
  }
}

std::pair<const AddedToken*, size_t> AddedTokenMatcher::longest_at(std::string_view text, size_t pos) const {
  std::pair<const AddedToken*, size_t> best{nullptr, pos};
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto byte = static_cast<uint8_t>(text[i]);
    const auto& children = nodes_[node].children;
    const auto it = std::find_if(children.begin(), children.end(), [&](const auto& e) { return e.first == byte; });
    if (it == children.end()) break;
    node = it->second;
    if (nodes_[node].token != nullptr) best = {nodes_[node].token, i + 1};
  }
  return best;
}

std::vector<TextSegment> AddedTokenMatcher::split(std::string_view text) const {
  std::vector<TextSegment> segments;
  size_t emitted = 0;  // end of the last segment pushed
  size_t pos = 0;
  while (pos < text.size()) {
    if (!first_byte_[static_cast<uint8_t>(text[pos])]) {
      ++pos;
      continue;
    }
    const auto [token, match_end] = longest_at(text, pos);
    if (token == nullptr) {
      ++pos;
      continue;
    }
    size_t begin = pos;
    size_t end = match_end;
    pos = match_end;  // a discarded match is skipped whole, as Aho-Corasick's iterator does
    if (token->single_word) {
      const bool word_before = begin > 0 && is_word_char(last_char(text.substr(0, begin)));
      const bool word_after = end < text.size() && is_word_char(first_char(text.substr(end)));
      if (word_before || word_after) continue;
    }
    if (token->lstrip) begin = std::max(begin - whitespace_run_before(text, begin), emitted);
    if (token->rstrip) end += whitespace_run_after(text, end);
    if (begin > emitted) segments.push_back({emitted, begin, nullptr});
    segments.push_back({begin, end, token});
    emitted = end;
    pos = std::max(pos, end);
  }
  if (emitted < text.size()) segments.push_back({emitted, text.size(), nullptr});
  return segments;
}

AddedVocabulary::AddedVocabulary(const nlohmann::json& added_tokens, const Normalizer* normalizer) {
  if (added_tokens.is_null()) return;
  if (!added_tokens.is_array()) throw std::invalid_argument("added_tokens must be an array");
  tokens_.reserve(added_tokens.size());
  for (const auto& spec : added_tokens) {
    AddedToken token;
    const int64_t id = spec.at("id").get<int64_t>();
    if (id < 0 || id >= (int64_t{1} << 24)) throw std::invalid_argument("added token id out of range");
    token.id = static_cast<int32_t>(id);
    token.content = spec.at("content").get<std::string>();
    token.special = spec.value("special", false);
    token.single_word = spec.value("single_word", false);
    token.lstrip = spec.value("lstrip", false);
    token.rstrip = spec.value("rstrip", false);
    token.normalized = spec.value("normalized", !token.special);
    if (token.content.empty()) continue;  // HF ignores these too
    if (!utf8::is_valid(token.content)) throw std::invalid_argument("added token content is not UTF-8");
    index_by_id_[token.id] = tokens_.size();
    index_by_content_.insert_or_assign(token.content, tokens_.size());
    max_id_ = std::max(max_id_, token.id);
    tokens_.push_back(std::move(token));
  }
  std::vector<std::pair<std::string, const AddedToken*>> raw;
  std::vector<std::pair<std::string, const AddedToken*>> normalized;
  for (const AddedToken& token : tokens_) {
    if (!token.normalized) {
      raw.emplace_back(token.content, &token);
    } else {
      has_normalized_ = true;
      normalized.emplace_back(normalizer ? normalizer->normalize(token.content) : token.content, &token);
    }
  }
  raw_matcher_ = AddedTokenMatcher(raw);
  normalized_matcher_ = AddedTokenMatcher(normalized);
}

const AddedToken* AddedVocabulary::by_id(int32_t id) const {
  const auto it = index_by_id_.find(id);
  return it == index_by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::by_content(std::string_view content) const {
  const auto it = index_by_content_.find(content);
  return it == index_by_content_.end() ? nullptr : &tokens_[it->second];
}

}  // namespace troupe
