#include "bench/loadgen/conversation.h"

#include <stdexcept>

namespace troupe::loadgen {

std::vector<ConversationPlan> plan_conversations(size_t conversations, size_t turns, int32_t user_len,
                                                 int32_t system_len, uint64_t seed, const Tokenizer& tokenizer) {
  std::string system;
  if (system_len > 0) {
    WorkloadOptions w;
    w.input_len = system_len;
    system = RequestGenerator(w, seed ^ 0x5157ull, tokenizer).next().prompt.get<std::string>();
  }
  WorkloadOptions w;
  w.input_len = user_len;
  RequestGenerator users(w, seed, tokenizer);
  std::vector<ConversationPlan> plans(conversations);
  for (ConversationPlan& p : plans) {
    p.system = system;
    p.planned_tokens_per_turn = user_len;
    for (size_t t = 0; t < turns; ++t) p.user_turns.push_back(users.next().prompt.get<std::string>());
  }
  return plans;
}

std::string conversation_turn_body(const ConversationPlan& plan, const std::vector<std::string>& answers, size_t turn,
                                   ApiFlavor flavor, const std::string& model, int32_t output_len,
                                   const nlohmann::json& extra) {
  if (turn >= plan.user_turns.size() || answers.size() < turn)
    throw std::invalid_argument("conversation turn " + std::to_string(turn) + " without the answers before it");
  PlannedRequest r;
  r.prompt = std::string();  // replaced below by the history
  r.output_tokens = output_len;
  r.prompt_tokens = plan.planned_tokens_per_turn;
  std::string body = request_body(r, flavor, model, extra);
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(body);
  if (flavor == ApiFlavor::Chat) {
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    if (!plan.system.empty()) messages.push_back({{"role", "system"}, {"content", plan.system}});
    for (size_t t = 0; t <= turn; ++t) {
      messages.push_back({{"role", "user"}, {"content", plan.user_turns[t]}});
      if (t < turn) messages.push_back({{"role", "assistant"}, {"content", answers[t]}});
    }
    j["messages"] = std::move(messages);
  } else {
    std::string prompt = plan.system;
    for (size_t t = 0; t <= turn; ++t) {
      prompt += (prompt.empty() ? "" : "\n") + plan.user_turns[t];
      if (t < turn) prompt += "\n" + answers[t];
    }
    j["prompt"] = std::move(prompt);
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace troupe::loadgen
