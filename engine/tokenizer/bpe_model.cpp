#include "engine/tokenizer/bpe_model.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "engine/text/utf8.h"

namespace troupe {

namespace {

// Ids are dense in every real vocab; this only stops a corrupt file from asking for gigabytes.
constexpr int64_t kMaxTokenId = 1 << 24;
constexpr char32_t kSmallCharLimit = 0x400;  // covers the whole byte-level alphabet (up to U+0143)

bool empty_or_null(const nlohmann::json& model, const char* key) {
  if (!model.contains(key) || model.at(key).is_null()) return true;
  return model.at(key).is_string() && model.at(key).get_ref<const std::string&>().empty();
}

// Optional booleans: some writers put null where they mean "unset".
bool flag(const nlohmann::json& model, const char* key) {
  const auto it = model.find(key);
  return it != model.end() && !it->is_null() && it->get<bool>();
}

// A merge candidate: the pair starting at symbol `pos` would become `merged_id`.
struct Candidate {
  uint32_t rank;
  uint32_t pos;
  int32_t merged_id;
  // std::push_heap builds a max-heap; inverting the order pops the lowest rank, then leftmost pos.
  bool operator<(const Candidate& other) const {
    return rank != other.rank ? rank > other.rank : pos > other.pos;
  }
};

struct Symbol {
  int32_t id;
  int32_t prev;  // -1 at the start
  int32_t next;  // -1 at the end
  bool alive;    // false once merged into its left neighbour
};

}  // namespace

std::unique_ptr<BpeModel> BpeModel::from_json(const nlohmann::json& model, const BpeTables& tables) {
  if (!model.is_object()) throw std::invalid_argument("\"model\" must be an object");
  const std::string type = model.value("type", std::string("BPE"));
  if (type != "BPE") throw std::invalid_argument("unsupported model type \"" + type + "\" (only BPE)");
  if (model.contains("dropout") && !model.at("dropout").is_null() && model.at("dropout").get<double>() > 0.0) {
    throw std::invalid_argument("BPE dropout is not supported (it makes encoding random)");
  }
  if (!empty_or_null(model, "continuing_subword_prefix") || !empty_or_null(model, "end_of_word_suffix")) {
    throw std::invalid_argument("BPE continuing_subword_prefix / end_of_word_suffix are not supported");
  }
  if (!tables.has_vocab) throw std::invalid_argument("BPE model has no \"vocab\" object");
  if (!tables.has_merges) throw std::invalid_argument("BPE model has no \"merges\" array");
  std::unique_ptr<BpeModel> bpe(new BpeModel());
  bpe->build_vocab(tables);
  bpe->build_merges(tables);
  bpe->ignore_merges_ = flag(model, "ignore_merges");
  bpe->byte_fallback_ = flag(model, "byte_fallback");
  bpe->fuse_unk_ = flag(model, "fuse_unk");
  if (model.contains("unk_token") && model.at("unk_token").is_string()) {
    bpe->unk_id_ = bpe->token_to_id(model.at("unk_token").get<std::string>());
  }
  return bpe;
}

void BpeModel::build_vocab(const BpeTables& tables) {
  std::vector<std::pair<std::string_view, int32_t>> entries;
  entries.reserve(tables.vocab.size());
  for (const auto& [token, id] : tables.vocab) {
    if (id < 0 || id >= kMaxTokenId) {
      throw std::invalid_argument("model.vocab id " + std::to_string(id) + " of \"" + token + "\" is out of range");
    }
    entries.emplace_back(token, static_cast<int32_t>(id));
  }
  vocab_ = TokenTable(entries);
  small_char_ids_.assign(kSmallCharLimit, -1);
  for (char32_t cp = 0; cp < kSmallCharLimit; ++cp) {
    std::string ch;
    utf8::append(ch, cp);
    if (const auto id = vocab_.find(ch)) small_char_ids_[cp] = *id;
  }
}

void BpeModel::build_merges(const BpeTables& tables) {
  merges_.reserve(tables.merges.size());
  std::string merged;
  for (size_t rank = 0; rank < tables.merges.size(); ++rank) {
    const auto& [left, right] = tables.merges[rank];
    merged.assign(left);
    merged += right;
    const auto left_id = token_to_id(left);
    const auto right_id = token_to_id(right);
    const auto merged_id = token_to_id(merged);
    if (!left_id || !right_id || !merged_id) {
      throw std::invalid_argument("merge \"" + left + "\" + \"" + right + "\" names a token missing from the vocab");
    }
    merges_.insert(*left_id, *right_id, {static_cast<uint32_t>(rank), *merged_id});
  }
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const { return vocab_.find(token); }

void BpeModel::tokenize(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    if (const auto id = token_to_id(piece)) {
      out.push_back(*id);
      return;
    }
  }
  if (cache_.lookup(piece, out)) return;
  std::vector<int32_t> symbols;
  symbols.reserve(piece.size());
  split_characters(piece, symbols);
  merge_symbols(symbols);
  out.insert(out.end(), symbols.begin(), symbols.end());
  cache_.insert(piece, symbols);
}

void BpeModel::split_characters(std::string_view piece, std::vector<int32_t>& symbols) const {
  // Characters missing from the vocab become unk (runs fused when fuse_unk) or byte tokens with
  // byte_fallback; with neither they are dropped, as HF does.
  bool unk_pending = false;
  auto flush_unk = [&] {
    if (unk_pending) symbols.push_back(*unk_id_);
    unk_pending = false;
  };
  for (size_t pos = 0; pos < piece.size();) {
    const size_t length = utf8::next(piece, pos).length;
    const std::string_view ch = piece.substr(pos, length);
    size_t decode_pos = pos;
    const char32_t cp = utf8::decode(piece, decode_pos);
    pos += length;
    std::optional<int32_t> id;
    if (cp < kSmallCharLimit) {
      if (small_char_ids_[cp] >= 0) id = small_char_ids_[cp];
    } else {
      id = token_to_id(ch);
    }
    if (id) {
      flush_unk();
      symbols.push_back(*id);
      continue;
    }
    if (byte_fallback_) {
      std::vector<int32_t> bytes;
      for (char b : ch) {
        char name[8];
        std::snprintf(name, sizeof(name), "<0x%02X>", static_cast<unsigned>(static_cast<uint8_t>(b)));
        if (const auto byte_id = token_to_id(name)) bytes.push_back(*byte_id);
      }
      if (bytes.size() == ch.size()) {
        flush_unk();
        symbols.insert(symbols.end(), bytes.begin(), bytes.end());
        continue;
      }
    }
    if (unk_id_) {
      if (!fuse_unk_) flush_unk();
      unk_pending = true;
    }
  }
  flush_unk();
}

void BpeModel::merge_symbols(std::vector<int32_t>& ids) const {
  const size_t n = ids.size();
  if (n < 2) return;
  std::vector<Symbol> symbols(n);
  std::vector<Candidate> heap;
  heap.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    symbols[i] = {ids[i], static_cast<int32_t>(i) - 1, i + 1 < n ? static_cast<int32_t>(i + 1) : -1, true};
    if (i + 1 < n) {
      if (const auto m = merges_.find(ids[i], ids[i + 1])) heap.push_back({m->rank, static_cast<uint32_t>(i), m->merged_id});
    }
  }
  std::make_heap(heap.begin(), heap.end());
  auto push = [&](int32_t pos) {
    const Symbol& s = symbols[pos];
    if (s.next < 0) return;
    if (const auto m = merges_.find(s.id, symbols[s.next].id)) {
      heap.push_back({m->rank, static_cast<uint32_t>(pos), m->merged_id});
      std::push_heap(heap.begin(), heap.end());
    }
  };
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& left = symbols[top.pos];
    // Stale candidates (a side was merged away since it was queued) no longer name the current pair.
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    const auto current = merges_.find(left.id, right.id);
    if (!current || current->merged_id != top.merged_id) continue;
    left.id = top.merged_id;
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = static_cast<int32_t>(top.pos);
    if (left.prev >= 0) push(left.prev);
    push(static_cast<int32_t>(top.pos));
  }
  ids.clear();
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
}

}  // namespace troupe
