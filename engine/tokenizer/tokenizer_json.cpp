#include "engine/tokenizer/tokenizer_json.h"

#include <cstdint>
#include <stdexcept>

namespace troupe {

namespace {

using json = nlohmann::json;

// A SAX consumer that builds the tree like nlohmann's own DOM parser, except below model.vocab and
// model.merges, whose entries it appends to BpeTables instead.
class Reader {
 public:
  explicit Reader(TokenizerJson& out) : out_(out) {}

  bool null() { return value(json(nullptr)); }
  bool boolean(bool v) { return value(json(v)); }
  bool number_integer(json::number_integer_t v) { return mode_ == Mode::kVocab ? vocab_id(v) : value(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) {
    if (mode_ != Mode::kVocab) return value(json(v));
    return vocab_id(v > static_cast<json::number_unsigned_t>(INT64_MAX) ? -1 : static_cast<int64_t>(v));
  }
  bool number_float(json::number_float_t v, const json::string_t&) {
    return mode_ == Mode::kVocab ? fail("model.vocab ids must be integers") : value(json(v));
  }
  bool binary(json::binary_t& v) { return value(json(std::move(v))); }

  bool string(json::string_t& s) {
    switch (mode_) {
      case Mode::kVocab:
        return fail("model.vocab ids must be integers");
      case Mode::kMerges: {
        // Older files write a merge as "left right"; byte-level tokens hold no raw space.
        const size_t space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
          return fail("merge \"" + s + "\" is not two tokens separated by one space");
        }
        out_.bpe.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
        return true;
      }
      case Mode::kMergePair:
        pair_.push_back(std::move(s));
        return true;
      case Mode::kTree:
        return value(json(std::move(s)));
    }
    return true;
  }

  bool key(json::string_t& k) {
    if (mode_ == Mode::kVocab) {
      token_ = std::move(k);
    } else {
      key_ = std::move(k);
    }
    return true;
  }

  bool start_object(std::size_t) {
    if (mode_ != Mode::kTree) return fail(mode_ == Mode::kVocab ? "model.vocab ids must be integers" : "bad merge");
    if (opening("vocab")) {
      mode_ = Mode::kVocab;
      out_.bpe.has_vocab = true;
      return true;
    }
    return open(json::object());
  }

  bool start_array(std::size_t) {
    switch (mode_) {
      case Mode::kVocab:
        return fail("model.vocab ids must be integers");
      case Mode::kMerges:
        mode_ = Mode::kMergePair;
        pair_.clear();
        return true;
      case Mode::kMergePair:
        return fail("a merge pair must hold two strings");
      case Mode::kTree:
        break;
    }
    if (opening("merges")) {
      mode_ = Mode::kMerges;
      out_.bpe.has_merges = true;
      return true;
    }
    return open(json::array());
  }

  bool end_object() {
    if (mode_ == Mode::kVocab) {
      mode_ = Mode::kTree;
      return true;
    }
    return close();
  }

  bool end_array() {
    if (mode_ == Mode::kMergePair) {
      if (pair_.size() != 2) return fail("a merge pair must hold two strings");
      out_.bpe.merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
      mode_ = Mode::kMerges;
      return true;
    }
    if (mode_ == Mode::kMerges) {
      mode_ = Mode::kTree;
      return true;
    }
    return close();
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    return fail(std::string("not valid JSON: ") + e.what());
  }

  const std::string& error() const { return error_; }

 private:
  enum class Mode { kTree, kVocab, kMerges, kMergePair };

  struct Open {
    json* container;
    bool is_model;  // the object under the root's "model" key
  };

  // True when the container about to open is model.<name>.
  bool opening(const char* name) const { return !stack_.empty() && stack_.back().is_model && key_ == name; }

  bool vocab_id(int64_t id) {
    out_.bpe.vocab.emplace_back(std::move(token_), id);
    return true;
  }

  // Places a scalar or a fresh container into the tree; returns where it went.
  json* place(json&& v) {
    if (stack_.empty()) {
      out_.root = std::move(v);
      return &out_.root;
    }
    json& parent = *stack_.back().container;
    if (parent.is_object()) return &(parent[key_] = std::move(v));
    parent.push_back(std::move(v));
    return &parent.back();
  }

  bool value(json&& v) {
    if (mode_ == Mode::kVocab) return fail("model.vocab ids must be integers");
    if (mode_ != Mode::kTree) return fail("a merge must be a string or a pair of strings");
    place(std::move(v));
    return true;
  }

  bool open(json&& container) {
    const bool is_model = stack_.size() == 1 && key_ == "model" && container.is_object();
    // Pointers stay valid: a parent only grows again after this child is closed and popped.
    stack_.push_back({place(std::move(container)), is_model});
    return true;
  }

  bool close() {
    stack_.pop_back();
    return true;
  }

  bool fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }

  TokenizerJson& out_;
  std::vector<Open> stack_;
  Mode mode_ = Mode::kTree;
  std::string key_;    // last key seen outside the vocab
  std::string token_;  // last vocab key, waiting for its id
  std::vector<std::string> pair_;
  std::string error_;
};

}  // namespace

TokenizerJson read_tokenizer_json(std::string_view text) {
  TokenizerJson out;
  Reader reader(out);
  const bool ok = json::sax_parse(text.begin(), text.end(), &reader);
  if (!ok) throw std::invalid_argument(reader.error().empty() ? "not valid JSON" : reader.error());
  return out;
}

}  // namespace troupe
