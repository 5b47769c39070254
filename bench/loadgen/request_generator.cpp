#include "bench/loadgen/request_generator.h"

#include <cmath>
#include <stdexcept>

namespace troupe::loadgen {

int32_t sample_length(int32_t len, double range, std::mt19937_64& rng) {
  const double l = static_cast<double>(len);
  // The epsilon keeps len*(1±r) that is an integer in exact arithmetic from rounding past it.
  const auto lo = static_cast<int64_t>(std::ceil(l * (1.0 - range) - 1e-9));
  const auto hi = static_cast<int64_t>(std::floor(l * (1.0 + range) + 1e-9));
  std::uniform_int_distribution<int64_t> pick(std::max<int64_t>(lo, 1), std::max<int64_t>(hi, 1));
  return static_cast<int32_t>(pick(rng));
}

RequestGenerator::RequestGenerator(WorkloadOptions options, uint64_t seed, std::optional<Tokenizer> tokenizer)
    : options_(options), rng_(seed), tokenizer_(std::move(tokenizer)) {
  if (tokenizer_) {
    options_.min_token_id = 0;
    options_.max_token_id = tokenizer_->vocab_size();
  }
  if (options_.min_token_id < 0 || options_.max_token_id <= options_.min_token_id)
    throw std::invalid_argument("empty token id range for random prompts");
}

int32_t RequestGenerator::random_token() {
  std::uniform_int_distribution<int32_t> pick(options_.min_token_id, options_.max_token_id - 1);
  for (;;) {  // special tokens (<|im_end|>, ...) would change how the server reads the prompt
    const int32_t id = pick(rng_);
    if (!tokenizer_ || (!tokenizer_->is_special(id) && tokenizer_->id_to_token(id))) return id;
  }
}

std::string RequestGenerator::text_of_length(int32_t len, int32_t& actual_len) {
  std::vector<int32_t> ids(static_cast<size_t>(len));
  for (int32_t& id : ids) id = random_token();
  std::string text;
  // Each round truncates or pads the re-encoded ids; it settles in one or two rounds in practice.
  for (int round = 0; round < 16; ++round) {
    text = tokenizer_->decode(ids, /*skip_special_tokens=*/true);
    std::vector<int32_t> encoded = tokenizer_->encode(text, /*add_special_tokens=*/false);
    actual_len = static_cast<int32_t>(encoded.size());
    if (actual_len == len) return text;
    if (actual_len > len) encoded.resize(static_cast<size_t>(len));
    while (static_cast<int32_t>(encoded.size()) < len) encoded.push_back(random_token());
    ids = std::move(encoded);
  }
  return text;  // the nearest we got; actual_len says how near
}

PlannedRequest RequestGenerator::next() {
  PlannedRequest r;
  const int32_t input_len = sample_length(options_.input_len, options_.input_len_range, rng_);
  r.output_tokens = sample_length(options_.output_len, options_.output_len_range, rng_);
  if (tokenizer_) {
    r.prompt = text_of_length(input_len, r.prompt_tokens);
  } else {
    std::vector<int32_t> ids(static_cast<size_t>(input_len));
    for (int32_t& id : ids) id = random_token();
    r.prompt = std::move(ids);
    r.prompt_tokens = input_len;
  }
  return r;
}

ApiFlavor api_flavor_of(std::string_view endpoint) {
  while (endpoint.ends_with('/')) endpoint.remove_suffix(1);
  return endpoint.ends_with("chat/completions") ? ApiFlavor::Chat : ApiFlavor::Completions;
}

std::string request_body(const PlannedRequest& r, ApiFlavor flavor, const std::string& model,
                         const nlohmann::json& extra) {
  nlohmann::ordered_json body;
  if (!model.empty()) body["model"] = model;
  if (flavor == ApiFlavor::Chat) {
    if (!r.prompt.is_string()) throw std::invalid_argument("chat requests need a text prompt (give --tokenizer)");
    body["messages"] = nlohmann::ordered_json::array({{{"role", "user"}, {"content", r.prompt}}});
  } else {
    body["prompt"] = r.prompt;
  }
  body["max_tokens"] = r.output_tokens;
  body["temperature"] = 0;
  body["ignore_eos"] = true;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  if (extra.is_object())
    for (const auto& [key, value] : extra.items()) body[key] = value;
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace troupe::loadgen
