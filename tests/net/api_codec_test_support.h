#pragma once
// What the TGI, Triton and tokenize codec tests share: the demo model folder their parses resolve
// against, checks that a parse gave a value or an error naming the right field, and a responder
// that records what a sink did to its HTTP response.
// In an unnamed namespace like the tests that include it: each test binary keeps its own copy.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model_folder.h"
#include "net/api_error.h"
#include "net/http_server.h"

namespace troupe::net {
namespace {

using nlohmann::ordered_json;

const ModelFolder& folder() {
  static const ModelFolder f = open_model_folder(std::string(TROUPE_CACHE_DIR) + "/demo-model");
  return f;
}

template <class T>
T ok(const std::variant<T, ApiError>& v) {
  if (const auto* e = std::get_if<ApiError>(&v)) ADD_FAILURE() << e->body();
  return std::get<T>(v);
}

// The error a parse must give; its body must name `param`.
template <class T>
ApiError fails(const std::variant<T, ApiError>& v, unsigned status, const std::string& param) {
  EXPECT_TRUE(std::holds_alternative<ApiError>(v)) << "expected an error naming " << param;
  if (!std::holds_alternative<ApiError>(v)) return {};
  const ApiError& e = std::get<ApiError>(v);
  EXPECT_EQ(e.status, status) << e.body();
  EXPECT_EQ(e.param, param) << e.body();
  const ordered_json named = ordered_json::parse(e.body())["error"]["param"];
  EXPECT_EQ(named, param.empty() ? ordered_json(nullptr) : ordered_json(param));
  return e;
}

// What a sink did to its HTTP response.
struct RecordingResponder : HttpResponder {
  unsigned status = 0;
  std::string content_type, body;
  std::vector<std::string> chunks;
  bool began = false, ended = false;
  void reply(unsigned s, std::string type, std::string b, std::map<std::string, std::string>) override {
    status = s, content_type = std::move(type), body = std::move(b);
  }
  void begin_stream(unsigned s, std::string type) override { status = s, content_type = std::move(type), began = true; }
  void write(std::string chunk) override { chunks.push_back(std::move(chunk)); }
  void end_stream() override { ended = true; }
  void on_disconnect(std::function<void()>) override {}
  // The JSON payloads of the SSE chunks written.
  std::vector<ordered_json> events() const {
    std::vector<ordered_json> out;
    for (const auto& c : chunks) {
      EXPECT_EQ(c.rfind("data: ", 0), 0u) << c;
      EXPECT_EQ(c.substr(c.size() - 2), "\n\n");
      out.push_back(ordered_json::parse(c.substr(6)));
    }
    return out;
  }
};

}  // namespace
}  // namespace troupe::net
