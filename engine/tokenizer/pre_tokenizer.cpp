#include "engine/tokenizer/pre_tokenizer.h"

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/regex.h"

namespace troupe {

namespace {

// GPT-2's pattern, which ByteLevel applies itself when use_regex is true.
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

SplitBehavior parse_behavior(const std::string& name) {
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  throw std::invalid_argument("unsupported Split behavior \"" + name + "\"");
}

struct Segment {
  size_t begin;
  size_t end;
  bool is_match;
};

// Applies a split behaviour to segments that tile the piece, keeping HF's rules: Removed drops the
// matches, the Merged* forms glue a match onto its neighbour unless the neighbour is a match too.
std::vector<std::pair<size_t, size_t>> apply_behavior(const std::vector<Segment>& segments, SplitBehavior behavior) {
  std::vector<std::pair<size_t, size_t>> kept;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Segment& s : segments) kept.emplace_back(s.begin, s.end);
      break;
    case SplitBehavior::kRemoved:
      for (const Segment& s : segments) {
        if (!s.is_match) kept.emplace_back(s.begin, s.end);
      }
      break;
    case SplitBehavior::kContiguous:
      for (const Segment& s : segments) {
        if (s.is_match == previous_match && !kept.empty()) {
          kept.back().second = s.end;
        } else {
          kept.emplace_back(s.begin, s.end);
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Segment& s : segments) {
        if (s.is_match && !previous_match && !kept.empty()) {
          kept.back().second = s.end;
        } else {
          kept.emplace_back(s.begin, s.end);
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (it->is_match && !previous_match && !kept.empty()) {
          kept.back().first = it->begin;
        } else {
          kept.emplace_back(it->begin, it->end);
        }
        previous_match = it->is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
  }
  return kept;
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  // Exactly one of `regex` / `literal` is used: a literal pattern is matched with plain find.
  SplitPreTokenizer(std::unique_ptr<Regex> regex, std::string literal, SplitBehavior behavior, bool invert)
      : regex_(std::move(regex)), literal_(std::move(literal)), behavior_(behavior), invert_(invert) {}

  void split(std::vector<std::string>& pieces) const override {
    std::vector<std::string> out;
    out.reserve(pieces.size() * 2);
    std::vector<std::pair<size_t, size_t>> matches;
    std::vector<Segment> segments;
    for (const std::string& piece : pieces) {
      matches.clear();
      find_matches(piece, matches);
      segments.clear();
      size_t previous = 0;
      for (const auto& [begin, end] : matches) {
        if (begin > previous) segments.push_back({previous, begin, invert_});
        segments.push_back({begin, end, !invert_});
        previous = end;
      }
      if (previous < piece.size() || piece.empty()) segments.push_back({previous, piece.size(), invert_});
      for (const auto& [begin, end] : apply_behavior(segments, behavior_)) {
        if (end > begin) out.emplace_back(piece, begin, end - begin);
      }
    }
    pieces = std::move(out);
  }

 private:
  void find_matches(const std::string& piece, std::vector<std::pair<size_t, size_t>>& matches) const {
    if (regex_) {
      regex_->find_all(piece, matches);
      return;
    }
    if (literal_.empty()) return;
    for (size_t at = piece.find(literal_); at != std::string::npos; at = piece.find(literal_, at + literal_.size())) {
      matches.emplace_back(at, at + literal_.size());
    }
  }

  std::unique_ptr<Regex> regex_;
  std::string literal_;
  SplitBehavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space),
        gpt2_split_(use_regex ? std::make_unique<SplitPreTokenizer>(std::make_unique<Regex>(kGpt2Pattern), "",
                                                                    SplitBehavior::kIsolated, false)
                              : nullptr) {}

  void split(std::vector<std::string>& pieces) const override {
    if (add_prefix_space_) {
      for (std::string& piece : pieces) {
        if (!piece.empty() && piece.front() != ' ') piece.insert(piece.begin(), ' ');
      }
    }
    if (gpt2_split_) gpt2_split_->split(pieces);
    for (std::string& piece : pieces) piece = byte_level::encode(piece);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<SplitPreTokenizer> gpt2_split_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}

  void split(std::vector<std::string>& pieces) const override {
    for (const auto& step : steps_) step->split(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

std::unique_ptr<Regex> compile(std::string_view pattern) {
  return std::make_unique<Regex>(pattern);  // std::invalid_argument on a bad pattern
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& spec) {
  if (spec.is_null()) return nullptr;
  const std::string type = spec.at("type").get<std::string>();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (const auto& step : spec.at("pretokenizers")) {
      if (auto made = make_pre_tokenizer(step)) steps.push_back(std::move(made));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  if (type == "Split") {
    const auto& pattern = spec.at("pattern");
    const SplitBehavior behavior = parse_behavior(spec.at("behavior").get<std::string>());
    const bool invert = spec.value("invert", false);
    if (pattern.contains("Regex")) {
      return std::make_unique<SplitPreTokenizer>(compile(pattern.at("Regex").get<std::string>()), "", behavior,
                                                 invert);
    }
    if (pattern.contains("String")) {
      return std::make_unique<SplitPreTokenizer>(nullptr, pattern.at("String").get<std::string>(), behavior, invert);
    }
    throw std::invalid_argument("Split pattern must be {\"Regex\": ...} or {\"String\": ...}");
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(spec.value("add_prefix_space", true), spec.value("use_regex", true));
  }
  if (type == "Digits") {
    const bool individual = spec.value("individual_digits", false);
    return std::make_unique<SplitPreTokenizer>(compile(individual ? "\\p{N}" : "\\p{N}+"), "",
                                               SplitBehavior::kIsolated, false);
  }
  throw std::invalid_argument("unsupported pre_tokenizer type \"" + type + "\"");
}

}  // namespace troupe
