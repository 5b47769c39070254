#include "bench/loadgen/sse_parser.h"

namespace troupe::loadgen {

void SseParser::feed(std::string_view bytes, const EventCallback& on_event) {
  for (const char c : bytes) {
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // the LF of a CRLF: the line already ended at the CR
    }
    if (c == '\r' || c == '\n') {
      after_cr_ = c == '\r';
      take_line(on_event);
      continue;
    }
    line_.push_back(c);
  }
}

void SseParser::finish(const EventCallback& on_event) {
  if (!line_.empty()) take_line(on_event);
  if (has_data_) on_event(data_);
  *this = SseParser();
}

void SseParser::take_line(const EventCallback& on_event) {
  std::string_view line = line_;
  if (at_start_) {
    at_start_ = false;
    if (line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
  }
  if (line.empty()) {  // end of an event
    if (has_data_) on_event(data_);
    data_.clear();
    has_data_ = false;
  } else if (line.front() != ':') {  // a leading ':' marks a comment (keep-alive pings)
    const size_t colon = line.find(':');
    const std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);
    if (field == "data") {
      if (has_data_) data_.push_back('\n');
      data_.append(value);
      has_data_ = true;
    }
  }
  line_.clear();
}

}  // namespace troupe::loadgen
