#include "engine/output/stop_string_filter.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace troupe {

size_t emittable_prefix(const std::string& text, const std::vector<std::string>& stop, bool& stopped,
                        bool include_stop) {
  size_t first = std::string::npos;
  size_t end = std::string::npos;  // of the stop string found at `first` (the first listed there)
  for (const std::string& s : stop) {
    if (s.empty()) continue;
    const size_t at = text.find(s);
    if (at < first) {
      first = at;
      end = at + s.size();
    }
  }
  if (first != std::string::npos) {
    stopped = true;
    return include_stop ? end : first;
  }
  stopped = false;
  size_t hold = 0;
  for (const std::string& s : stop)
    for (size_t len = std::min(s.size() - 1, text.size()); len > hold; --len)
      if (text.compare(text.size() - len, len, s, 0, len) == 0) {
        hold = len;
        break;
      }
  return text.size() - hold;
}

StopStringFilter::Release StopStringFilter::push(GeneratedToken token) {
  if (stopped_) return {};
  pending_ += token.text;
  held_.push_back(std::move(token));
  const size_t n = emittable_prefix(pending_, stop_, stopped_, include_stop_);
  return release(n, stopped_);
}

StopStringFilter::Release StopStringFilter::finish(const std::string& tail) {
  if (stopped_) return {};
  if (!held_.empty()) held_.back().text += tail;  // the held bytes came with the last tokens
  pending_ += tail;
  const size_t n = emittable_prefix(pending_, stop_, stopped_, include_stop_);
  return release(stopped_ ? n : pending_.size(), stopped_);
}

StopStringFilter::Release StopStringFilter::release(size_t n, bool cut) {
  size_t begin = 0;  // of held_[k]'s text in pending_
  size_t k = 0;
  for (; k < held_.size(); ++k) {
    const size_t end = begin + held_[k].text.size();
    if (cut ? begin >= n : end > n) break;
    if (end > n) held_[k].text.resize(n - begin);
    begin = end;
  }
  // Text past the last token is only the detokenizer's final flush: it goes with the last call.
  const size_t sent = cut || k == held_.size() ? n : begin;
  Release out;
  if (k == 0 && sent == 0) return out;
  const auto last = held_.begin() + static_cast<std::ptrdiff_t>(k);
  out.tokens.assign(std::make_move_iterator(held_.begin()), std::make_move_iterator(last));
  held_.erase(held_.begin(), last);
  out.text = pending_.substr(0, sent);
  pending_.erase(0, sent);
  return out;
}

}  // namespace troupe
