#pragma once
// Multi-turn conversations for `troupe bench --multi-turn`: turn k's prompt is everything said so
// far — an optional shared system prompt, every earlier user message and the answer the server
// gave it — plus a new user message, as a chat client resends its history. A server that keeps
// the earlier turns' KV blocks (prefix caching; a cache-aware router in front of replicas) serves
// most of each prompt from cache. Text prompts only: an answer comes back as text.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/loadgen/request_generator.h"

namespace troupe::loadgen {

struct ConversationPlan {
  std::string system;                    // "" for none; the same for every conversation of a run
  std::vector<std::string> user_turns;   // [turns]: the new user message of each turn
  int32_t planned_tokens_per_turn = 0;   // user message tokens (prompt_tokens until usage says)
};

// `conversations` plans of `turns` user messages of `user_len` tokens each (exact, with the
// tokenizer the generator has), every one opening with the same system prompt of `system_len`
// tokens (0: none). The same seed gives the same plans.
std::vector<ConversationPlan> plan_conversations(size_t conversations, size_t turns, int32_t user_len,
                                                 int32_t system_len, uint64_t seed, const Tokenizer& tokenizer);

// The body of turn `turn` (0-based) given the answers to the turns before it: for chat, messages
// system?, user, assistant, ..., user; for completions one prompt, the same parts joined by "\n"
// (each part starts a new line, so re-tokenizing the history keeps the tokens it had).
std::string conversation_turn_body(const ConversationPlan& plan, const std::vector<std::string>& answers, size_t turn,
                                   ApiFlavor flavor, const std::string& model, int32_t output_len,
                                   const nlohmann::json& extra);

}  // namespace troupe::loadgen
