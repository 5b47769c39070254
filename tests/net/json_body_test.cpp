// Reading a client's body (net/json_body): the nesting limit at its exact boundary, and error
// messages that stay small whatever the body holds.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "net/json_body.h"

namespace troupe::net {
namespace {

using nlohmann::ordered_json;

// A body of `levels` levels: an object holding `levels - 1` more of arrays or objects.
std::string body_of_depth(int levels, bool objects) {
  std::string inner = "1";
  for (int i = 1; i < levels; ++i) inner = objects ? "{\"a\":" + inner + "}" : "[" + inner + "]";
  return "{\"x\":" + inner + "}";
}

TEST(ParseJsonObject, AcceptsExactly64Levels) {
  static_assert(kMaxJsonDepth == 64);
  for (bool objects : {false, true}) {
    const auto at = parse_json_object(body_of_depth(64, objects));
    EXPECT_TRUE(std::holds_alternative<ordered_json>(at)) << objects;
    const auto past = parse_json_object(body_of_depth(65, objects));
    ASSERT_TRUE(std::holds_alternative<ApiError>(past)) << objects;
    EXPECT_EQ(std::get<ApiError>(past).status, 400u);
    EXPECT_EQ(std::get<ApiError>(past).message, "the body nests deeper than 64 levels");
  }
  EXPECT_THROW(parse_json_bounded<nlohmann::json>(std::string(65, '[') + std::string(65, ']')), JsonTooDeep);
  EXPECT_NO_THROW(parse_json_bounded<nlohmann::json>(std::string(64, '[') + std::string(64, ']')));
  // Scalars and strings holding brackets do not count.
  EXPECT_TRUE(std::holds_alternative<ordered_json>(parse_json_object("{\"s\": \"" + std::string(1000, '[') + "\"}")));
}

TEST(ParseJsonObject, OtherErrorsAreStill400sWithTheirOwnMessage) {
  auto message = [](const std::string& body) {
    const auto r = parse_json_object(body);
    return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r).message : std::string("accepted");
  };
  EXPECT_EQ(message("[1]"), "the body must be a JSON object");
  EXPECT_EQ(message("{\"a\": 1e309}").rfind("the body is not valid JSON: ", 0), 0u);
  EXPECT_EQ(message("{\"a\": ").rfind("the body is not valid JSON: ", 0), 0u);
  // nlohmann quotes the token it stopped in: here the whole unterminated megabyte string.
  const std::string cut = message("{\"a\": \"" + std::string(1 << 20, 'x'));
  EXPECT_EQ(cut.rfind("the body is not valid JSON: ", 0), 0u);
  EXPECT_LT(cut.size(), 400u);
}

// The builder must give exactly what nlohmann's parse gives, key order and duplicates included.
TEST(ParseJsonBounded, BuildsWhatNlohmannBuilds) {
  std::string wide_dups = "{";
  for (int i = 0; i < 40; ++i) wide_dups += "\"k" + std::to_string(i % 25) + "\": " + std::to_string(i) + ",";
  wide_dups += "\"z\": [1, {\"k3\": 0, \"k3\": 1}]}";
  for (const std::string& text :
       {std::string(R"({"b": 1, "a": [true, null, -2, 18446744073709551615, 1.5e3, "s\u00e9"], "c": {"y": {}, "x": []}})"),
        std::string(R"({"a": 1, "b": 2, "a": 3})"), std::string(R"([[], {}, [[{"q": [0]}]]])"), std::string("\"top\""),
        std::string("7"), wide_dups}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(parse_json_bounded<ordered_json>(text).dump(), ordered_json::parse(text).dump());
    EXPECT_EQ(parse_json_bounded<nlohmann::json>(text), nlohmann::json::parse(text));
  }
  for (const char* bad : {"{\"a\": 1} x", "{\"a\" 1}", "[1,]", "", "{\"a\": 1e309}"})
    EXPECT_THROW(parse_json_bounded<ordered_json>(bad), nlohmann::json::exception) << bad;
}

// ordered_json's own parse searches all keys on each insert: 50,000 keys took 9 s.
TEST(ParseJsonBounded, AWideObjectParsesInLinearTime) {
  std::string body = "{\"x\": {";
  for (int i = 0; i < 300000; ++i) body += (i ? ",\"k" : "\"k") + std::to_string(i) + "\": 1";
  body += "}}";
  const auto start = std::chrono::steady_clock::now();
  const auto parsed = parse_json_object(body);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(std::holds_alternative<ordered_json>(parsed));
  const ordered_json& x = std::get<ordered_json>(parsed)["x"];
  EXPECT_EQ(x.size(), 300000u);
  EXPECT_EQ(x.begin().key(), "k0");
  EXPECT_EQ(std::prev(x.end()).key(), "k299999");
  EXPECT_LT(seconds, 3.0);
}

TEST(JsonExcerpt, BoundedAndWholeCharacters) {
  EXPECT_EQ(json_excerpt(ordered_json("short")), "short");
  EXPECT_EQ(json_excerpt(ordered_json::array({1, 2})), "[1,2]");
  EXPECT_EQ(json_excerpt(ordered_json(std::string(1000, 'm')), 10), "mmmmmmmmmm...");
  ordered_json big = ordered_json::array();
  for (int i = 0; i < 10000; ++i) big.push_back(i);
  EXPECT_LE(json_excerpt(big).size(), 128u + 3);
  // "é" is two bytes: a cut never splits it.
  EXPECT_EQ(truncate_for_message("aé", 2), "a...");
  EXPECT_EQ(truncate_for_message("aé", 3), "aé");
}

}  // namespace
}  // namespace troupe::net
