#pragma once
// RequestGenerator: the random workload. Each request gets a prompt and an output length drawn
// uniformly from [len*(1-range), len*(1+range)] (integers, at least 1).
// - Without a tokenizer, a prompt is an array of random token ids in [min_token_id, max_token_id):
//   the server takes `"prompt": [ids]` and does not re-tokenize, so the length is exact.
// - With a tokenizer, a prompt is text whose encoding (without special tokens) has exactly the
//   drawn length: random ids are decoded and the text re-encoded until the lengths agree (decode
//   and encode are not inverses: merges across token boundaries change the count).
// The same seed gives the same requests.
#include <cstdint>
#include <optional>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/tokenizer/tokenizer.h"

namespace troupe::loadgen {

struct WorkloadOptions {
  int32_t input_len = 128;
  double input_len_range = 0.0;
  int32_t output_len = 128;
  double output_len_range = 0.0;
  int32_t min_token_id = 1000;   // random ids when there is no tokenizer: valid for common vocabularies
  int32_t max_token_id = 30000;  // exclusive
};

struct PlannedRequest {
  nlohmann::json prompt;      // an array of ids, or a string (with a tokenizer)
  int32_t prompt_tokens = 0;  // the prompt's length in tokens
  int32_t output_tokens = 0;  // max_tokens (ignore_eos makes it the exact length)
};

// An integer uniform in [ceil(len*(1-range)), floor(len*(1+range))], at least 1.
int32_t sample_length(int32_t len, double range, std::mt19937_64& rng);

class RequestGenerator {
 public:
  RequestGenerator(WorkloadOptions options, uint64_t seed, std::optional<Tokenizer> tokenizer = std::nullopt);
  PlannedRequest next();

 private:
  int32_t random_token();
  std::string text_of_length(int32_t len, int32_t& actual_len);

  WorkloadOptions options_;
  std::mt19937_64 rng_;
  std::optional<Tokenizer> tokenizer_;
};

enum class ApiFlavor { Completions, Chat };
// /v1/chat/completions (anything ending in "chat/completions") takes messages; the rest a prompt.
ApiFlavor api_flavor_of(std::string_view endpoint);

// The JSON body of one streamed request: ignore_eos, max_tokens = output length, temperature 0,
// stream with usage. `extra` (an object, maybe empty) is merged last and wins.
std::string request_body(const PlannedRequest& r, ApiFlavor flavor, const std::string& model,
                         const nlohmann::json& extra);

}  // namespace troupe::loadgen
