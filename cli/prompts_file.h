#pragma once
// Reading `troupe generate --prompts-file`: one JSON object per line,
// {"id": ..., "prompt": "...", "max_tokens": N, "temperature": T, ...}.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/sampling/sampling_params.h"

namespace troupe::cli {

struct PromptLine {
  nlohmann::json id;     // echoed back as given (string or number); the line number if absent
  std::string prompt;
  SamplingParams params;
};

// Fields a line omits take `defaults`. Throws std::invalid_argument("FILE:LINE: ...") naming the
// field on any bad line.
std::vector<PromptLine> read_prompts_file(const std::filesystem::path& file, const SamplingParams& defaults);

}  // namespace troupe::cli
