#pragma once
// RequestRecord: what one benchmark request measured, as a plain value. Times are seconds from
// the moment the request was started (before connecting: one connection per request, so the
// connect is part of what a client waits for).
#include <cstdint>
#include <string>
#include <vector>

namespace troupe::loadgen {

struct RequestRecord {
  bool ok = false;             // HTTP 200, a well-formed stream ended by [DONE], some content
  bool cancelled = false;      // stopped by Ctrl-C: neither a success nor a failure
  std::string error;           // why it failed; empty when ok
  int32_t prompt_tokens = 0;   // usage.prompt_tokens, else the length the prompt was made with
  int32_t output_tokens = 0;   // usage.completion_tokens, else the number of content chunks
  int32_t content_chunks = 0;  // events that carried non-empty text
  double ttft_s = 0;           // start -> first content chunk
  double e2e_s = 0;            // start -> [DONE] (or the end of the body)
  std::vector<double> itl_s;   // [content_chunks - 1] gaps between consecutive content chunks
  std::string text;            // the generated text (a multi-turn conversation's next prompt holds it)

  // (e2e - ttft) / (output_tokens - 1): the decode time per token after the first; < 0 when
  // there is no second token to divide by.
  double tpot_s() const { return output_tokens > 1 ? (e2e_s - ttft_s) / (output_tokens - 1) : -1.0; }
};

}  // namespace troupe::loadgen
