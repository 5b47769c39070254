// --multi-turn's pure parts: a turn's body is the history (system prompt, each earlier user
// message and its answer) plus the new message, for completions and chat; plans are exact in
// length and repeatable; the server's prefix-cache counters are read from any prefix and summed
// over labelled lines (data-parallel replicas).
#include <gtest/gtest.h>

#include <filesystem>

#include "bench/loadgen/conversation.h"
#include "bench/loadgen/prefix_cache_counters.h"

namespace troupe::loadgen {
namespace {

ConversationPlan plan() {
  ConversationPlan p;
  p.system = "SYS";
  p.user_turns = {"u0", "u1", "u2"};
  p.planned_tokens_per_turn = 2;
  return p;
}

TEST(MultiTurn, ACompletionsTurnIsTheHistoryPlusTheNewMessage) {
  const auto first = nlohmann::json::parse(conversation_turn_body(plan(), {}, 0, ApiFlavor::Completions, "m", 8, {}));
  EXPECT_EQ(first["prompt"], "SYS\nu0");
  EXPECT_EQ(first["max_tokens"], 8);
  EXPECT_EQ(first["model"], "m");
  EXPECT_EQ(first["stream"], true);
  const auto third =
      nlohmann::json::parse(conversation_turn_body(plan(), {"a0", "a1"}, 2, ApiFlavor::Completions, "m", 8, {}));
  EXPECT_EQ(third["prompt"], "SYS\nu0\na0\nu1\na1\nu2");
  ConversationPlan no_system = plan();
  no_system.system.clear();
  EXPECT_EQ(nlohmann::json::parse(conversation_turn_body(no_system, {"a0"}, 1, ApiFlavor::Completions, "", 8,
                                                         {{"top_p", 0.5}}))["prompt"],
            "u0\na0\nu1");
  EXPECT_THROW(conversation_turn_body(plan(), {}, 1, ApiFlavor::Completions, "m", 8, {}), std::invalid_argument);
}

TEST(MultiTurn, AChatTurnIsTheMessagesSoFar) {
  const auto body = nlohmann::json::parse(conversation_turn_body(plan(), {"a0"}, 1, ApiFlavor::Chat, "m", 8, {}));
  const nlohmann::json want = nlohmann::json::array({{{"role", "system"}, {"content", "SYS"}},
                                                     {{"role", "user"}, {"content", "u0"}},
                                                     {{"role", "assistant"}, {"content", "a0"}},
                                                     {{"role", "user"}, {"content", "u1"}}});
  EXPECT_EQ(body["messages"], want);
  EXPECT_FALSE(body.contains("prompt"));
}

TEST(MultiTurn, PlansShareOneSystemPromptAndAreRepeatable) {
  const auto tok = Tokenizer::from_file(std::filesystem::path(TROUPE_CACHE_DIR) / "demo-model" / "tokenizer.json");
  const auto a = plan_conversations(3, 4, 12, 20, 7, tok);
  const auto b = plan_conversations(3, 4, 12, 20, 7, tok);
  ASSERT_EQ(a.size(), 3u);
  for (size_t c = 0; c < a.size(); ++c) {
    EXPECT_EQ(a[c].system, a[0].system);
    EXPECT_EQ(a[c].user_turns, b[c].user_turns);
    ASSERT_EQ(a[c].user_turns.size(), 4u);
    for (const auto& u : a[c].user_turns) EXPECT_EQ(tok.encode(u, false).size(), 12u);
  }
  EXPECT_EQ(tok.encode(a[0].system, false).size(), 20u);
  EXPECT_NE(a[0].user_turns[0], a[1].user_turns[0]);
  EXPECT_TRUE(plan_conversations(1, 1, 4, 0, 7, tok)[0].system.empty());
}

TEST(PrefixCacheCounters, SummedOverReplicasForAnyPrefix) {
  const std::string text =
      "# HELP troupe:prefix_cache_hits_total Prompt tokens served from the prefix cache.\n"
      "# TYPE troupe:prefix_cache_hits_total counter\n"
      "troupe:prefix_cache_hits_total{model_name=\"m\",replica=\"0\"} 64\n"
      "troupe:prefix_cache_hits_total{model_name=\"m\",replica=\"1\"} 32\n"
      "troupe:prefix_cache_queries_total{model_name=\"m\",replica=\"0\"} 100\n"
      "troupe:prefix_cache_queries_total{model_name=\"m\",replica=\"1\"} 200\n"
      "troupe:not_prefix_cache_hits_total 5\n";
  const auto c = parse_prefix_cache_counters(text);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->hits, 96);
  EXPECT_EQ(c->queries, 300);
  const auto v = parse_prefix_cache_counters("vllm:prefix_cache_queries_total 10\nvllm:prefix_cache_hits_total 4\n");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->hits, 4);
  EXPECT_FALSE(parse_prefix_cache_counters("troupe:num_requests_running 0\n"));
  EXPECT_DOUBLE_EQ(*hit_rate_between(*v, *c), 92.0 / 290.0);
  EXPECT_FALSE(hit_rate_between(*c, *c));
}

}  // namespace
}  // namespace troupe::loadgen
