// net/error_status: the one map from an engine error's code to what an HTTP client sees, and the
// sinks answering through it (a Triton sink here; TGI's in tgi_api_test).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "api_codec_test_support.h"  // RecordingResponder, ordered_json
#include "net/error_status.h"
#include "net/triton_api.h"

namespace troupe::net {
namespace {

TEST(ErrorStatus, RefusalsAre400sAGoneOrDrainingEngine503sAndFailures500s) {
  EXPECT_EQ(http_status(troupe_error::invalid_request), 400u);
  EXPECT_EQ(http_status(troupe_error::engine_lost), 503u);
  EXPECT_EQ(http_status(troupe_error::shutting_down), 503u);
  for (troupe_error code : {troupe_error::step_failed, troupe_error::executor_refused, troupe_error::executor_replaced,
                            troupe_error::node_refused})
    EXPECT_EQ(http_status(code), 500u) << to_string(code);
  EXPECT_EQ(http_status(static_cast<troupe_error>(200)), 500u);  // a code from a newer peer
}

TEST(ErrorStatus, TheErrorTypeFollowsTheStatusAndTheMessageIsKeptAsIs) {
  EXPECT_EQ(engine_error(troupe_error::invalid_request, "the prompt has no tokens").type, "invalid_request_error");
  EXPECT_EQ(engine_error(troupe_error::shutting_down, "x").type, "service_unavailable");
  EXPECT_EQ(engine_error(troupe_error::step_failed, "x").type, "server_error");
  const ApiError e = engine_error(troupe_error::engine_lost, "node b lost");
  EXPECT_EQ(ordered_json::parse(e.body())["error"]["message"], "node b lost");
}

TEST(ErrorStatus, ASinkAnswersWithTheCodesStatusOrEndsItsStreamWithTheErrorEvent) {
  auto whole = std::make_shared<RecordingResponder>();
  TritonSink sink(whole, false, "demo-model", "");
  sink.on_error(troupe_error::engine_lost, "the engine has stopped");
  EXPECT_EQ(whole->status, 503u);  // once a 400: Triton's and TGI's sinks had no other status
  EXPECT_EQ(ordered_json::parse(whole->body)["error"]["message"], "the engine has stopped");

  auto streamed = std::make_shared<RecordingResponder>();
  TritonSink stream(streamed, true, "demo-model", "");
  stream.start();
  stream.on_error(troupe_error::invalid_request, "prompt too long");
  ASSERT_EQ(streamed->events().size(), 1u);
  EXPECT_EQ(streamed->events()[0]["error"]["message"], "prompt too long");
  EXPECT_TRUE(streamed->ended);
}

}  // namespace
}  // namespace troupe::net
