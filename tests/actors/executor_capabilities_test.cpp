// An executor in another actor system (another process, as `serve --executor` reaches it) says what
// its backend does through the wire schema, and one that does not know the question (an older
// build) answers with an error rather than a guess.
#include <gtest/gtest.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "../engine/model/fixture_model.h"
#include "actors/actor_system_config.h"
#include "actors/executor_actor.h"
#include "actors/executor_capabilities.h"
#include "actors/message_inspect.h"
#include "engine/runtime/cpu_backend.h"

namespace troupe {
namespace {

// What an executor built before capabilities_atom was: it knows init and step only.
caf::behavior old_executor() {
  return {[](init_atom, const KvPoolShape&) { return true; }};
}

TEST(ExecutorCapabilities, AnExecutorOverLoopbackAnswersItsBackends) {
  auto model = std::make_shared<CpuModel>(test::load_fixture_model("tiny-llama3"));
  TroupeActorSystemConfig node_cfg;
  caf::actor_system node{node_cfg};
  TroupeActorSystemConfig head_cfg;
  caf::actor_system head{head_cfg};
  // A CPU backend with the whole LM head scores prompt tokens; a pipeline's first stage (no LM
  // head) does not. Both apply logit adjustments.
  const std::shared_ptr<ModelBackend> first_stage = test::fixture_stage_backends("tiny-llama3", 2).front();
  for (const auto& [backend, want] :
       std::vector<std::pair<std::shared_ptr<ModelBackend>, BackendCapabilities>>{
           {std::make_shared<CpuBackend>(model), {.applies_logit_adjustments = true, .computes_prompt_logprobs = true}},
           {first_stage, {.applies_logit_adjustments = true, .computes_prompt_logprobs = false}}}) {
    auto executor = node.spawn(executor_actor, backend);
    auto port = node.middleman().publish(executor, 0, "127.0.0.1");
    ASSERT_TRUE(port) << node.render(port.error());
    auto remote = head.middleman().remote_actor("127.0.0.1", *port);
    ASSERT_TRUE(remote) << head.render(remote.error());
    const auto can = ask_capabilities(head, *remote);
    ASSERT_TRUE(can) << head.render(can.error());
    EXPECT_EQ(*can, want);
    caf::anon_send_exit(executor, caf::exit_reason::user_shutdown);
  }
}

TEST(ExecutorCapabilities, AnExecutorThatDoesNotKnowTheQuestionSaysSo) {
  TroupeActorSystemConfig node_cfg;
  caf::actor_system node{node_cfg};
  TroupeActorSystemConfig head_cfg;
  caf::actor_system head{head_cfg};
  auto executor = node.spawn(old_executor);
  auto port = node.middleman().publish(executor, 0, "127.0.0.1");
  ASSERT_TRUE(port) << node.render(port.error());
  auto remote = head.middleman().remote_actor("127.0.0.1", *port);
  ASSERT_TRUE(remote) << head.render(remote.error());
  const auto can = ask_capabilities(head, *remote, std::chrono::seconds(5));
  ASSERT_FALSE(can);
  EXPECT_EQ(can.error(), caf::sec::unexpected_message) << head.render(can.error());
  caf::anon_send_exit(executor, caf::exit_reason::user_shutdown);
}

TEST(ExecutorCapabilities, WhatAnExecutorThatCameBackLacks) {
  const BackendCapabilities all{true, true}, none{};
  EXPECT_EQ(capabilities_lost(all, all), "");
  EXPECT_EQ(capabilities_lost(none, all), "");  // gaining is no harm: the gateway opened nothing for it
  EXPECT_EQ(capabilities_lost(all, none), "logit_bias and min_tokens, prompt_logprobs");
  EXPECT_EQ(capabilities_lost(all, BackendCapabilities{true, false}), "prompt_logprobs");
}

}  // namespace
}  // namespace troupe
