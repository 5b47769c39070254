#pragma once
// CompletionStreamReader: turns the body of one streamed OpenAI completion (SSE of JSON chunks)
// into a RequestRecord, stamping each event with the time its bytes arrived. No sockets here, so
// every rule below is testable with strings:
// - a content chunk is one whose choices[0].text (completions) or choices[0].delta.content /
//   reasoning_content (chat) is a non-empty string; role-only and finish chunks are not content;
// - usage (stream_options.include_usage) gives the token counts when the server sends them;
// - `{"error": ...}` in the stream, a chunk that is not JSON, or no [DONE] make the request fail.
#include <chrono>
#include <string>
#include <string_view>

#include "bench/loadgen/request_record.h"
#include "bench/loadgen/sse_parser.h"

namespace troupe::loadgen {

using Clock = std::chrono::steady_clock;

class CompletionStreamReader {
 public:
  CompletionStreamReader(Clock::time_point started, int32_t planned_prompt_tokens);

  // Body bytes, in order, with the time they were read.
  void on_bytes(std::string_view bytes, Clock::time_point now);
  bool saw_done() const { return saw_done_; }
  bool failed() const { return !record_.error.empty(); }
  // The body ended (or [DONE] came) at `now`.
  RequestRecord finish(Clock::time_point now);

 private:
  void on_event(std::string_view data, Clock::time_point now);
  void fail(std::string why);

  Clock::time_point started_;
  Clock::time_point last_content_{};
  SseParser sse_;
  RequestRecord record_;
  int32_t usage_output_tokens_ = -1;  // -1: no usage seen
  bool saw_done_ = false;
};

}  // namespace troupe::loadgen
