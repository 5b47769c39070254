// troupe_error through CAF: rendered with its code's name and message, and still the same code
// after crossing from one actor system to another (serialized as category, code and context).
#include <gtest/gtest.h>

#include <string>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/actor_system_config.h"
#include "actors/troupe_error.h"

namespace troupe {
namespace {

TEST(TroupeError, RendersItsCodeAndMessage) {
  TroupeActorSystemConfig cfg;
  caf::actor_system sys{cfg};
  const caf::error err = caf::make_error(troupe_error::step_failed, "executor step failed: boom");
  EXPECT_EQ(sys.render(err), "step_failed: executor step failed: boom");
  EXPECT_EQ(troupe_error_code(err), troupe_error::step_failed);
  EXPECT_EQ(error_message(err), "executor step failed: boom");
  // CAF's own errors are not ours, and keep their text.
  const caf::error theirs = caf::make_error(caf::sec::request_timeout);
  EXPECT_EQ(troupe_error_code(theirs), std::nullopt);
  EXPECT_EQ(error_message(theirs), "");
}

TEST(TroupeError, KeepsItsCodeAndMessageAcrossActorSystems) {
  TroupeActorSystemConfig node_cfg;
  caf::actor_system node{node_cfg};
  // Refuses every question, as a node refuses a head it does not serve.
  auto refuser = node.spawn([]() -> caf::behavior {
    return {[](int32_t) -> caf::result<int32_t> { return caf::make_error(troupe_error::node_refused, "node a already serves head h"); }};
  });
  auto port = node.middleman().publish(refuser, 0, "127.0.0.1");
  ASSERT_TRUE(port) << node.render(port.error());

  TroupeActorSystemConfig head_cfg;
  caf::actor_system head{head_cfg};
  auto remote = head.middleman().remote_actor("127.0.0.1", *port);
  ASSERT_TRUE(remote) << head.render(remote.error());
  caf::scoped_actor self{head};
  caf::error got;
  self->request(*remote, std::chrono::seconds(10), int32_t{1})
      .receive([](int32_t) { ADD_FAILURE() << "answered"; }, [&](caf::error& err) { got = std::move(err); });
  EXPECT_EQ(troupe_error_code(got), troupe_error::node_refused) << head.render(got);
  EXPECT_EQ(head.render(got), "node_refused: node a already serves head h");
  caf::anon_send_exit(refuser, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace troupe
