#include "cli/prompts_file.h"

#include <fstream>
#include <stdexcept>

#include "net/json_body.h"
#include "net/sampling_json.h"

namespace troupe::cli {

std::vector<PromptLine> read_prompts_file(const std::filesystem::path& file, const SamplingParams& defaults) {
  std::ifstream in(file);
  if (!in) throw std::invalid_argument(file.string() + ": cannot open");
  std::vector<PromptLine> lines;
  std::string text;
  for (int number = 1; std::getline(in, text); ++number) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto fail = [&](const std::string& what) {
      throw std::invalid_argument(file.string() + ":" + std::to_string(number) + ": " + what);
    };
    nlohmann::json j;
    try {
      j = net::parse_json_bounded<nlohmann::json>(text);  // "id" is copied and printed: both recurse
    } catch (const net::JsonTooDeep& e) {
      fail(std::string("the line ") + e.what());
    } catch (const nlohmann::json::exception& e) {
      fail(std::string("invalid JSON: ") + net::truncate_for_message(e.what(), 256));
    }
    if (!j.is_object()) fail("expected a JSON object");
    PromptLine line{j.contains("id") ? j["id"] : nlohmann::json(number), "", defaults};
    auto prompt = j.find("prompt");
    if (prompt == j.end() || !prompt->is_string()) fail("field 'prompt' must be a string");
    line.prompt = prompt->get<std::string>();
    if (auto err = net::read_sampling_params(j, line.params)) fail("field '" + err->field + "': " + err->message);
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace troupe::cli
