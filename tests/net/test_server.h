#pragma once
// A whole server on loopback for tests: the demo model (dummy weights), the actors and HTTP on a
// free port, plus a tiny blocking HTTP client.
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "actors/actor_system_config.h"
#include "actors/engine_topology.h"
#include "actors/gateway_actor.h"
#include "engine/model_folder.h"
#include "net/api_server.h"

namespace troupe::test {

struct HttpReply {
  unsigned status = 0;
  std::string body;
  std::string header(const std::string& name) const;
  std::map<std::string, std::string> headers;
};

// One request on a fresh connection; the whole body is read (streams until the server ends them).
HttpReply http_call(uint16_t port, const std::string& method, const std::string& target, const std::string& body = "",
                    const std::map<std::string, std::string>& headers = {});

struct TestServerOptions {
  SchedulerConfig config{.max_num_seqs = 16, .max_num_batched_tokens = 256, .block_size = 16, .num_blocks = 512,
                         .enable_prefix_caching = true, .long_prefill_token_threshold = 0};
  std::string api_key;
  bool metrics_need_key = false;
  net::FieldGates field_gates;  // serve's --trust-request-chat-template, --scheduling-policy priority
  bool prompt_logprobs = true;  // the executor scores prompt tokens (a GPU's would not): ApiContext's
  int64_t max_waiting = 0;
  std::chrono::seconds request_timeout{0};
  int32_t max_restarts = 3;  // of the executor and of the scheduler, each
  net::ApiServerOptions http = default_http();
  // The demo model's folder (tokenizer) and weights to reuse; null: read and made anew (~1 s).
  std::shared_ptr<const ModelFolder> folder;
  std::shared_ptr<CpuModel> model;

  static net::ApiServerOptions default_http() {
    net::ApiServerOptions o;
    o.http.port = 0;
    o.http.max_body_bytes = 1u << 20;
    o.http.read_timeout = std::chrono::seconds(2);
    o.shutdown_timeout = std::chrono::seconds(0);  // a test's end aborts what it left running
    return o;
  }
};

// The "data: ..." payloads of a Server-Sent Events body, in order ("[DONE]" included).
std::vector<std::string> sse_events(const std::string& body);

class TestServer {
 public:
  explicit TestServer(TestServerOptions options = {});
  ~TestServer();
  uint16_t port() const { return server_->port(); }
  const ModelFolder& folder() const { return *folder_; }
  CpuModel& model() { return *model_; }
  std::shared_ptr<CpuModel> shared_model() const { return model_; }
  std::shared_ptr<const ModelFolder> shared_folder() const { return folder_; }
  SchedulerSnapshot snapshot();  // of the current scheduler
  void kill_scheduler();         // the current one, with exit_reason::kill; the supervisor restarts it
  ServerMetrics& metrics() { return *metrics_; }
  size_t open_connections() const { return server_->open_connections(); }
  // The graceful shutdown a SIGTERM runs (net::ApiServer::shutdown); the engine stays up.
  void shutdown_http() { server_->shutdown(); }

 private:
  std::shared_ptr<const ModelFolder> folder_;
  std::shared_ptr<CpuModel> model_;
  std::shared_ptr<ServerMetrics> metrics_ = std::make_shared<ServerMetrics>();
  TroupeActorSystemConfig cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  EngineActors engine_;
  caf::actor gateway_;
  std::unique_ptr<net::ApiServer> server_;
};

// A fixture whose tests share one TestServer, started once for the suite.
class ServerSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new TestServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static TestServer& server() { return *server_; }

 private:
  static inline TestServer* server_ = nullptr;
};

}  // namespace troupe::test
