#pragma once
// StopStringFilter: one request's output on its way to the client, held back while it may still
// turn into one of the request's stop strings (vLLM's rule: text that could start a stop string
// is not sent until the next tokens say whether it does). Pure policy: the gateway actor feeds it
// each token with its detokenized text and hands what comes out to the request's sink.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/sampling/logprobs.h"

namespace troupe {

// One generated token as a client gets it.
struct GeneratedToken {
  int32_t id = 0;
  std::string text;         // its share of the output text: "" for a skipped special token or the
                            // bytes of a character that a later token completes
  SampleLogprobs logprobs;  // when the request asked (SamplingParams::logprobs >= 0), else empty
};

// The prefix of `text` that can be emitted now: everything before the first stop string (and
// `stopped` set; through its end with `include_stop`), or everything but the longest tail that is
// a prefix of some stop string.
size_t emittable_prefix(const std::string& text, const std::vector<std::string>& stop, bool& stopped,
                        bool include_stop = false);

class StopStringFilter {
 public:
  // Tokens and their text that may go out: `text` is the tokens' texts joined (at the end it may
  // add, with no token, what the detokenizer held back). A token goes out once no stop string can
  // start in its text; the token a stop string cuts goes with only the text before the stop (or
  // through it, with include_stop), so the tokens a client sees are exactly those of its text.
  struct Release {
    std::string text;
    std::vector<GeneratedToken> tokens;
    bool empty() const { return text.empty() && tokens.empty(); }
  };

  StopStringFilter(std::vector<std::string> stop, bool include_stop)
      : stop_(std::move(stop)), include_stop_(include_stop) {}

  // The next token; what may go out now. Once stopped(), the output is over: nothing more goes.
  Release push(GeneratedToken token);
  // The output ended (EOS, length, abort): `tail` is the detokenizer's last flush, part of the last
  // token. Nothing can grow into a stop string any more, so all but a real match goes out.
  Release finish(const std::string& tail);
  bool stopped() const { return stopped_; }

 private:
  // The held tokens whose text lies in the first n bytes of pending_, and that text; with `cut` a
  // stop string starts at n and the token it cuts goes too, shortened to what precedes it.
  Release release(size_t n, bool cut);

  std::vector<std::string> stop_;
  bool include_stop_ = false;
  std::string pending_;                // the held tokens' text (and a final flush), not sent yet
  std::vector<GeneratedToken> held_;   // not sent yet: a stop string may start in their text
  bool stopped_ = false;
};

}  // namespace troupe
