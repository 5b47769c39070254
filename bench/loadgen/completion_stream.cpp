#include "bench/loadgen/completion_stream.h"

#include <nlohmann/json.hpp>

namespace troupe::loadgen {
namespace {

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The text a chunk adds, for either endpoint; empty when it adds none.
std::string_view chunk_text(const nlohmann::json& chunk) {
  const auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array() || choices->empty()) return {};
  const nlohmann::json& choice = choices->front();
  if (const auto text = choice.find("text"); text != choice.end() && text->is_string())
    return text->get_ref<const std::string&>();
  const auto delta = choice.find("delta");
  if (delta == choice.end() || !delta->is_object()) return {};
  for (const char* key : {"content", "reasoning_content"}) {
    const auto it = delta->find(key);
    if (it != delta->end() && it->is_string() && !it->get_ref<const std::string&>().empty())
      return it->get_ref<const std::string&>();
  }
  return {};
}

}  // namespace

CompletionStreamReader::CompletionStreamReader(Clock::time_point started, int32_t planned_prompt_tokens)
    : started_(started) {
  record_.prompt_tokens = planned_prompt_tokens;
}

void CompletionStreamReader::on_bytes(std::string_view bytes, Clock::time_point now) {
  sse_.feed(bytes, [&](std::string_view data) { on_event(data, now); });
}

RequestRecord CompletionStreamReader::finish(Clock::time_point now) {
  if (!saw_done_) sse_.finish([&](std::string_view data) { on_event(data, now); });
  record_.e2e_s = seconds(now - started_);
  record_.output_tokens = usage_output_tokens_ >= 0 ? usage_output_tokens_ : record_.content_chunks;
  if (!failed() && !saw_done_) fail("the stream ended without data: [DONE]");
  if (!failed() && record_.content_chunks == 0) fail("the stream carried no content");
  record_.ok = !failed();
  return record_;
}

void CompletionStreamReader::on_event(std::string_view data, Clock::time_point now) {
  if (failed() || saw_done_) return;  // nothing after an error or [DONE] counts
  if (data == "[DONE]") {
    saw_done_ = true;
    return;
  }
  const nlohmann::json chunk = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (chunk.is_discarded() || !chunk.is_object()) {
    return fail("malformed stream event: " + std::string(data.substr(0, 200)));
  }
  if (const auto err = chunk.find("error"); err != chunk.end() && !err->is_null()) {
    const auto msg = err->is_object() ? err->find("message") : err->end();
    return fail("error in stream: " + (msg != err->end() && msg->is_string() ? msg->get<std::string>() : err->dump()));
  }
  if (const auto usage = chunk.find("usage"); usage != chunk.end() && usage->is_object()) {
    if (const auto out = usage->find("completion_tokens"); out != usage->end() && out->is_number_integer())
      usage_output_tokens_ = out->get<int32_t>();
    if (const auto in = usage->find("prompt_tokens"); in != usage->end() && in->is_number_integer())
      record_.prompt_tokens = in->get<int32_t>();
  }
  const std::string_view text = chunk_text(chunk);
  if (text.empty()) return;
  record_.text += text;
  if (record_.content_chunks == 0) record_.ttft_s = seconds(now - started_);
  else record_.itl_s.push_back(seconds(now - last_content_));
  last_content_ = now;
  ++record_.content_chunks;
}

void CompletionStreamReader::fail(std::string why) {
  if (record_.error.empty()) record_.error = std::move(why);
}

}  // namespace troupe::loadgen
