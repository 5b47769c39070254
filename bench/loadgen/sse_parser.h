#pragma once
// SseParser: Server-Sent Events (the text/event-stream format) parsed incrementally from bytes as
// they arrive, however the network splits them. Only `data:` fields matter to an OpenAI stream;
// `event:`, `id:`, `retry:` and comment lines (`:` first) are read and dropped.
//
// Invariant: the events produced do not depend on where the input is split. Lines end with LF,
// CRLF or a lone CR (a CR at the end of one chunk and an LF at the start of the next are one end);
// an event ends at an empty line; several data lines of one event are joined with '\n'.
#include <functional>
#include <string>
#include <string_view>

namespace troupe::loadgen {

class SseParser {
 public:
  using EventCallback = std::function<void(std::string_view data)>;

  // Parses `bytes` and calls on_event once per complete event that carried data.
  void feed(std::string_view bytes, const EventCallback& on_event);
  // End of stream: an event not followed by an empty line is delivered anyway (servers that end
  // the body right after `data: [DONE]\n` are common), then the parser is reset.
  void finish(const EventCallback& on_event);

 private:
  void take_line(const EventCallback& on_event);

  std::string line_;        // the current line, without its end
  std::string data_;        // data of the current event so far
  bool has_data_ = false;   // whether the current event had a data field (even an empty one)
  bool after_cr_ = false;   // the last byte was a CR: an LF right after it ends nothing new
  bool at_start_ = true;    // a leading UTF-8 BOM is skipped
};

}  // namespace troupe::loadgen
