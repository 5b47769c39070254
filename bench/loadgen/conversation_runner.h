#pragma once
// Runs multi-turn conversations against a server (`troupe bench --multi-turn`): up to
// `concurrency` conversations at once, each sending its turns one after another, turn k+1 built
// from turn k's answer (conversation.h). A failed turn ends its conversation. One thread's
// io_context, one connection per request, as LoadRunner.
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/loadgen/conversation.h"
#include "bench/loadgen/http_target.h"
#include "bench/loadgen/request_record.h"

namespace troupe::loadgen {

struct ConversationRunOptions {
  HttpTarget target;
  std::string path = "/v1/completions";
  std::string model;
  nlohmann::json extra = nlohmann::json::object();
  int32_t output_len = 32;
  size_t concurrency = 0;  // conversations in flight; 0: all at once
  std::chrono::milliseconds request_timeout{600'000};
};

struct ConversationRunResult {
  std::vector<RequestRecord> records;  // every turn sent, in order of ending
  double duration_s = 0;               // first send -> last end
  size_t conversations_failed = 0;     // ended early by a failed turn
};

// Throws std::runtime_error if the host does not resolve.
ConversationRunResult run_conversations(const ConversationRunOptions& options, std::vector<ConversationPlan> plans);

}  // namespace troupe::loadgen
