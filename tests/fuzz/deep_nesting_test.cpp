// Deeply nested bodies through the parse functions the fuzz targets feed (fuzz_openai_request.cpp,
// fuzz_other_apis.cpp), built with the project's compiler so it runs in every CI build, not only
// where clang and libFuzzer are. The fuzzers cannot find this class of input themselves: their
// inputs are capped at 4 KiB (run_fuzzer.sh), ~2,000 levels, and the stack overflowed only past
// ~20,000. Before the parse-time depth limit, every body here crashed the process (SIGSEGV in a
// recursive copy, conversion or dump of the value).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <variant>
#include <vector>

#include "net/openai_api.h"
#include "net/tgi_api.h"
#include "net/tokenize_api.h"
#include "net/triton_api.h"
#include "tests/fuzz/fuzz_common.h"

namespace troupe {
namespace {

namespace fz = fuzz;
using net::ApiError;

constexpr int kLevels = 100000;

// `levels` arrays, [[[...]]], or objects, {"a":{"a":...}}, around a 1.
std::string deep_value(bool objects, int levels) {
  std::string s;
  s.reserve(static_cast<size_t>(levels) * 6 + 1);
  for (int i = 0; i < levels; ++i) s += objects ? "{\"a\":" : "[";
  s += "1";
  for (int i = 0; i < levels; ++i) s += objects ? '}' : ']';
  return s;
}

// Every field position a client controls on some route; '@' is where the deep value goes.
const std::vector<std::string>& positions() {
  static const std::vector<std::string> p = {
      "@",
      R"({"prompt": @})",
      R"({"prompt": "hi", "model": @})",
      R"({"prompt": "hi", "stop": @})",
      R"({"prompt": "hi", "temperature": @})",
      R"({"messages": @})",
      R"({"messages": [{"role": "user", "content": @}]})",
      R"({"messages": [{"role": "user", "content": "hi", "x": @}]})",
      R"({"messages": [{"role": @, "content": "hi"}]})",
      R"({"messages": [{"role": "user", "content": "hi"}], "tools": @})",
      R"({"messages": [{"role": "user", "content": "hi"}], "model": @})",
      R"({"inputs": @})",
      R"({"inputs": "hi", "parameters": @})",
      R"({"inputs": "hi", "parameters": {"x": @}})",
      R"({"text_input": @})",
      R"({"text_input": "hi", "parameters": @})",
      R"({"text_input": "hi", "parameters": {"stop_words": @}})",
      R"({"tokens": @})",
      R"({"tokens": [1], "model": @})",
  };
  return p;
}

std::string body_at(const std::string& position, const std::string& value) {
  std::string body = position;
  return body.replace(body.find('@'), 1, value);
}

// What every route must answer: a 400 that names the limit, well-formed (fuzz_common's checks).
template <class T>
void expect_depth_error(const char* what, const std::variant<T, ApiError>& parsed, const std::string& position) {
  const auto* e = std::get_if<ApiError>(&parsed);
  ASSERT_NE(e, nullptr) << what << " accepted " << position;
  fz::check_error(what, *e);
  EXPECT_EQ(e->status, 400u) << what << " " << position << ": " << e->body();
  EXPECT_NE(e->message.find("nests deeper than 64 levels"), std::string::npos)
      << what << " " << position << ": " << e->message;
}

class DeepNesting : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(std::string(TROUPE_DEMO_MODEL) + "/config.json"))
      GTEST_SKIP() << "no demo model (scripts/fetch_test_data.sh)";
  }
};

TEST_P(DeepNesting, EveryRouteAndFieldAnswers400NamingTheLimit) {
  const std::string value = deep_value(GetParam(), kLevels);
  const ModelFolder& m = fz::model();
  const auto triton = *net::parse_triton_route("/v2/models/demo-model/generate");
  const auto triton_stream = *net::parse_triton_route("/v2/models/demo-model/versions/1/generate_stream");
  for (const std::string& position : positions()) {
    const std::string body = body_at(position, value);
    SCOPED_TRACE(position);
    for (auto kind : {net::ApiKind::Completion, net::ApiKind::Chat})
      expect_depth_error("parse_completion_request",
                         fz::no_throw("parse_completion_request",
                                      [&] { return net::parse_completion_request(kind, body, m, fz::kServedName); }),
                         position);
    expect_depth_error("parse_tgi_request", fz::no_throw("parse_tgi_request", [&] { return net::parse_tgi_request(body, m); }),
                       position);
    for (const auto& route : {triton, triton_stream})
      expect_depth_error("parse_triton_request",
                         fz::no_throw("parse_triton_request",
                                      [&] { return net::parse_triton_request(route, body, m, fz::kServedName); }),
                         position);
    expect_depth_error("parse_tokenize_request",
                       fz::no_throw("parse_tokenize_request", [&] { return net::parse_tokenize_request(body, m, fz::kServedName); }),
                       position);
    expect_depth_error("parse_detokenize_request",
                       fz::no_throw("parse_detokenize_request",
                                    [&] { return net::parse_detokenize_request(body, m, fz::kServedName); }),
                       position);
  }
}

INSTANTIATE_TEST_SUITE_P(ArraysAndObjects, DeepNesting, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Objects" : "Arrays"; });

}  // namespace
}  // namespace troupe
