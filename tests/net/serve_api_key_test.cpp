// The API key over HTTP: a key from --api-key-file, $TROUPE_API_KEY or $VLLM_API_KEY (resolved as
// `troupe serve` resolves it) guards every route but /health and, as in vLLM, /metrics (unless
// --metrics-need-api-key); the Bearer scheme in any case works, a wrong key or a missing header
// gets 401.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <unistd.h>  // getpid: a file name of this test's own

#include <nlohmann/json.hpp>

#include "net/api_key.h"
#include "test_server.h"

namespace troupe {
namespace {

using nlohmann::json;
using test::http_call;

// What a server started with `key` answers: each accepted form gets 200, each refused one 401.
void expect_guarded_by(const std::string& key) {
  test::TestServerOptions o;
  o.api_key = key;
  test::TestServer server(o);
  const auto models = [&](const std::string& authorization) {
    std::map<std::string, std::string> headers;
    if (!authorization.empty()) headers["Authorization"] = authorization;
    return http_call(server.port(), "GET", "/v1/models", "", headers).status;
  };
  EXPECT_EQ(models("Bearer " + key), 200u);
  EXPECT_EQ(models("bearer " + key), 200u);
  EXPECT_EQ(models("BEARER   " + key), 200u);
  EXPECT_EQ(models("Bearer " + key + "x"), 401u);
  EXPECT_EQ(models("Bearer " + key.substr(0, key.size() - 1)), 401u);
  EXPECT_EQ(models("Bearer wrong"), 401u);
  EXPECT_EQ(models(key), 401u);
  EXPECT_EQ(models(""), 401u);
  EXPECT_EQ(http_call(server.port(), "GET", "/health").status, 200u);
  EXPECT_EQ(http_call(server.port(), "GET", "/metrics").status, 200u);  // open, as vLLM's
  const auto denied = http_call(server.port(), "POST", "/v1/completions", R"({"prompt": "hi", "max_tokens": 1})",
                                {{"Authorization", "Bearer nope"}});
  EXPECT_EQ(denied.status, 401u);
  EXPECT_EQ(json::parse(denied.body)["error"]["code"], 401);
  EXPECT_EQ(http_call(server.port(), "POST", "/v1/completions", R"({"prompt": "hi", "max_tokens": 1})",
                      {{"Authorization", "bearer " + key}}).status, 200u);
}

TEST(ServeApiKeyMetrics, MetricsNeedTheKeyOnlyWhenAsked) {
  test::TestServerOptions o;
  o.api_key = "metrics-key";
  o.metrics_need_key = true;
  test::TestServer server(o);
  EXPECT_EQ(http_call(server.port(), "GET", "/metrics").status, 401u);
  const auto scraped = http_call(server.port(), "GET", "/metrics", "", {{"Authorization", "Bearer metrics-key"}});
  EXPECT_EQ(scraped.status, 200u);
  EXPECT_NE(scraped.body.find("num_requests_running"), std::string::npos);
  EXPECT_EQ(http_call(server.port(), "GET", "/health").status, 200u);
}

// Sets environment variables for one test and puts them back.
class ServeApiKey : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"TROUPE_API_KEY", "VLLM_API_KEY"}) {
      if (const char* v = std::getenv(name)) saved_[name] = v;
      ::unsetenv(name);
    }
  }
  void TearDown() override {
    for (const char* name : {"TROUPE_API_KEY", "VLLM_API_KEY"}) ::unsetenv(name);
    for (const auto& [name, v] : saved_) ::setenv(name.c_str(), v.c_str(), 1);
    std::filesystem::remove(file_);
  }
  std::map<std::string, std::string> saved_;
  std::filesystem::path file_ = std::filesystem::temp_directory_path() / ("troupe_http_key_" + std::to_string(::getpid()));
};

TEST_F(ServeApiKey, FromTheKeyFile) {
  std::ofstream(file_) << "file-key-123\n";
  ::setenv("TROUPE_API_KEY", "env-key", 1);  // the file wins over the environment
  const net::ApiKey k = net::resolve_api_key("", file_.string());
  ASSERT_EQ(k.key, "file-key-123");
  expect_guarded_by(k.key);
}

TEST_F(ServeApiKey, FromTroupeApiKey) {
  ::setenv("TROUPE_API_KEY", "troupe-env-key", 1);
  ::setenv("VLLM_API_KEY", "vllm-env-key", 1);  // TROUPE_API_KEY wins
  const net::ApiKey k = net::resolve_api_key("", "");
  ASSERT_EQ(k.source, "TROUPE_API_KEY");
  expect_guarded_by(k.key);
}

TEST_F(ServeApiKey, FromVllmApiKey) {
  ::setenv("VLLM_API_KEY", "vllm-env-key", 1);
  const net::ApiKey k = net::resolve_api_key("", "");
  ASSERT_EQ(k.source, "VLLM_API_KEY");
  expect_guarded_by(k.key);
}

}  // namespace
}  // namespace troupe
