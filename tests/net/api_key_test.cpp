// The API key check (net/api_key): equality, the Authorization scheme, and where the key comes
// from. The HTTP side is serve_api_key_test.cpp.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include <unistd.h>  // getpid: a file name of this test's own

#include "net/api_key.h"

namespace troupe::net {
namespace {

using namespace std::string_view_literals;

TEST(KeysEqual, IsExactlyByteEquality) {
  EXPECT_TRUE(keys_equal("sekret", "sekret"));
  EXPECT_TRUE(keys_equal("", ""));
  EXPECT_FALSE(keys_equal("sekret", "sekreT"));
  EXPECT_FALSE(keys_equal("sekret", "Sekret"));
  EXPECT_FALSE(keys_equal("sekret", "sekre"));   // a prefix
  EXPECT_FALSE(keys_equal("sekre", "sekret"));
  EXPECT_FALSE(keys_equal("sekret", "sekretx"));  // longer
  EXPECT_FALSE(keys_equal("", "x"));
  EXPECT_FALSE(keys_equal("x", ""));
  // Padding with zeros must not make a shorter key equal: the length difference counts.
  EXPECT_FALSE(keys_equal("abc"sv, "abc\0"sv));
  EXPECT_FALSE(keys_equal("\0"sv, ""sv));
  EXPECT_TRUE(keys_equal("a\0b"sv, "a\0b"sv));
  EXPECT_FALSE(keys_equal("\xff", "\x7f"));  // every bit of a byte counts
  // Lengths whose XOR is a multiple of 256 still differ (the XOR is kept whole, not as a byte).
  EXPECT_FALSE(keys_equal(std::string(256, 'a'), std::string(512, 'a')));
}

TEST(BearerToken, SchemeInAnyCaseThenAnySpaces) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer abc"), "abc");
  EXPECT_EQ(bearer_token("BEARER abc"), "abc");
  EXPECT_EQ(bearer_token("bEaReR    abc"), "abc");
  EXPECT_EQ(bearer_token("Bearer a b"), "a b");  // the rest is the token, compared whole
  EXPECT_EQ(bearer_token("Bearer "), "");
  EXPECT_EQ(bearer_token("Bearerabc"), std::nullopt);  // no space: another scheme
  EXPECT_EQ(bearer_token("Basic YWxhZGRpbjpvcGVu"), std::nullopt);
  EXPECT_EQ(bearer_token("Bearer"), std::nullopt);
  EXPECT_EQ(bearer_token(""), std::nullopt);
  EXPECT_EQ(bearer_token(" Bearer abc"), std::nullopt);
}

TEST(AuthorizationMatches, OnlyTheExactKeyAsABearerToken) {
  EXPECT_TRUE(authorization_matches("Bearer k1", "k1"));
  EXPECT_TRUE(authorization_matches("bearer  k1", "k1"));
  EXPECT_FALSE(authorization_matches("Bearer k2", "k1"));
  EXPECT_FALSE(authorization_matches("Bearer K1", "k1"));  // the scheme is case-insensitive, the key is not
  EXPECT_FALSE(authorization_matches("k1", "k1"));
  EXPECT_FALSE(authorization_matches("Bearer ", "k1"));
  EXPECT_FALSE(authorization_matches("", "k1"));
}

// An environment that holds only what the test gives it.
struct FakeEnv {
  std::map<std::string, std::string> vars;
  std::function<const char*(const char*)> getenv() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

class KeyFile : public ::testing::Test {
 protected:
  std::string write(const std::string& content) {
    std::ofstream(path_, std::ios::binary) << content;
    return path_.string();
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::filesystem::path path_ = std::filesystem::temp_directory_path() / ("troupe_key_" + std::to_string(::getpid()));
};

TEST_F(KeyFile, PrecedenceIsFlagFileTroupeEnvVllmEnv) {
  FakeEnv env{{{"TROUPE_API_KEY", "troupe-env"}, {"VLLM_API_KEY", "vllm-env"}}};
  const std::string file = write("from-file\n");
  EXPECT_EQ(resolve_api_key("flag", "", env.getenv()).key, "flag");
  EXPECT_EQ(resolve_api_key("flag", "", env.getenv()).source, "--api-key");
  const ApiKey f = resolve_api_key("", file, env.getenv());
  EXPECT_EQ(f.key, "from-file");
  EXPECT_EQ(f.source, "--api-key-file " + file);
  EXPECT_EQ(resolve_api_key("", "", env.getenv()).key, "troupe-env");
  EXPECT_EQ(resolve_api_key("", "", env.getenv()).source, "TROUPE_API_KEY");
  env.vars.erase("TROUPE_API_KEY");
  EXPECT_EQ(resolve_api_key("", "", env.getenv()).key, "vllm-env");
  EXPECT_EQ(resolve_api_key("", "", env.getenv()).source, "VLLM_API_KEY");
  env.vars["TROUPE_API_KEY"] = "";  // set but empty: not given
  EXPECT_EQ(resolve_api_key("", "", env.getenv()).key, "vllm-env");
  env.vars.clear();
  const ApiKey none = resolve_api_key("", "", env.getenv());
  EXPECT_EQ(none.key, "");
  EXPECT_EQ(none.source, "");
}

TEST_F(KeyFile, FirstLineWithTrailingWhitespaceStripped) {
  EXPECT_EQ(resolve_api_key("", write("abc \t\r\nsecond line\n"), FakeEnv{}.getenv()).key, "abc");
  EXPECT_EQ(resolve_api_key("", write("no-newline"), FakeEnv{}.getenv()).key, "no-newline");
  EXPECT_EQ(resolve_api_key("", write("  lead kept"), FakeEnv{}.getenv()).key, "  lead kept");
}

// `what` must name the file (or both flags) and say why.
void expect_invalid(const std::function<void()>& f, const std::vector<std::string>& mentions) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    for (const auto& m : mentions) EXPECT_NE(std::string(e.what()).find(m), std::string::npos) << e.what() << " / " << m;
  }
}

TEST_F(KeyFile, BadFilesAndBothFlagsAreErrorsNamingThem) {
  const FakeEnv env{{{"TROUPE_API_KEY", "x"}}};  // no silent fallback to the environment
  expect_invalid([&] { resolve_api_key("", write(""), env.getenv()); }, {path_.string()});
  expect_invalid([&] { resolve_api_key("", write(" \n"), env.getenv()); }, {path_.string(), "no key"});
  expect_invalid([&] { resolve_api_key("", write("\nkey on line two\n"), env.getenv()); }, {path_.string()});
  expect_invalid([&] { resolve_api_key("", "/nonexistent/troupe.key", env.getenv()); }, {"/nonexistent/troupe.key"});
  expect_invalid([&] { resolve_api_key("", "/", env.getenv()); }, {"--api-key-file /"});  // a directory
  expect_invalid([&] { resolve_api_key("k", write("k\n"), env.getenv()); }, {"--api-key", "--api-key-file"});
}

}  // namespace
}  // namespace troupe::net
