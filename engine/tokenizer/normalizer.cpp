#include "engine/tokenizer/normalizer.h"

#include <utf8proc.h>  // utf8proc_map and the normal-form option flags

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

namespace troupe {

namespace {

class UnicodeForm : public Normalizer {
 public:
  explicit UnicodeForm(utf8proc_option_t options) : options_(options) {}

  std::string normalize(std::string_view text) const override {
    // ASCII is invariant under every normal form, and it is most of what a server sees.
    const bool ascii = std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    if (ascii) return std::string(text);
    utf8proc_uint8_t* mapped = nullptr;
    const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                            static_cast<utf8proc_ssize_t>(text.size()), &mapped, options_);
    if (n < 0) {
      // Only reachable on invalid UTF-8 or out of memory; the caller repaired the UTF-8 already.
      throw std::runtime_error(std::string("unicode normalization failed: ") + utf8proc_errmsg(n));
    }
    std::string out(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n));
    std::free(mapped);
    return out;
  }

 private:
  utf8proc_option_t options_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}

  std::string normalize(std::string_view text) const override {
    std::string current(text);
    for (const auto& step : steps_) current = step->normalize(current);
    return current;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& spec) {
  if (spec.is_null()) return nullptr;
  const std::string type = spec.at("type").get<std::string>();
  const auto stable = UTF8PROC_STABLE;
  if (type == "NFC") return std::make_unique<UnicodeForm>(utf8proc_option_t(stable | UTF8PROC_COMPOSE));
  if (type == "NFD") return std::make_unique<UnicodeForm>(utf8proc_option_t(stable | UTF8PROC_DECOMPOSE));
  if (type == "NFKC") {
    return std::make_unique<UnicodeForm>(utf8proc_option_t(stable | UTF8PROC_COMPOSE | UTF8PROC_COMPAT));
  }
  if (type == "NFKD") {
    return std::make_unique<UnicodeForm>(utf8proc_option_t(stable | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT));
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (const auto& step : spec.at("normalizers")) {
      if (auto made = make_normalizer(step)) steps.push_back(std::move(made));
    }
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  throw std::invalid_argument("unsupported normalizer type \"" + type + "\"");
}

}  // namespace troupe
