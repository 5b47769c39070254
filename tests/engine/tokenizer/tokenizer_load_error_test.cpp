// Every problem in a tokenizer.json surfaces as a LoadError that names the file and says what is wrong.
#include <gtest/gtest.h>

#include "engine/load_error.h"
#include "tests/engine/tokenizer/tiny_tokenizer.h"
#include "tests/engine/tokenizer/tokenizer_test_support.h"

namespace troupe {
namespace {

using test::TempFile;

// Loads `contents` from a real file and returns the LoadError message ("" if it loaded).
std::string load_error_for(const std::string& contents, const std::string& must_mention) {
  const TempFile file("tokenizer.json", contents);
  try {
    Tokenizer::from_file(file.path());
  } catch (const LoadError& e) {
    EXPECT_EQ(e.file(), file.path());
    const std::string what = e.what();
    EXPECT_NE(what.find(file.path().string()), std::string::npos) << what;
    EXPECT_NE(what.find(must_mention), std::string::npos) << what;
    return what;
  }
  ADD_FAILURE() << "loaded without error; expected one mentioning " << must_mention;
  return "";
}

std::string with(const std::string& pointer, const nlohmann::json& value) {
  auto spec = test::tiny_tokenizer_json();
  spec[nlohmann::json::json_pointer(pointer)] = value;
  return spec.dump();
}

TEST(TokenizerLoadError, MissingFileNamesThePath) {
  const std::filesystem::path missing = std::filesystem::temp_directory_path() / "troupe_no_such_dir" / "tokenizer.json";
  try {
    Tokenizer::from_file(missing);
    FAIL() << "loaded a missing file";
  } catch (const LoadError& e) {
    EXPECT_EQ(e.file(), missing);
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos);
  }
}

TEST(TokenizerLoadError, BadJson) {
  load_error_for("{\"model\": {\"type\": \"BPE\", ", "JSON");
  load_error_for("", "JSON");
  load_error_for("[1, 2]", "not an object");
}

TEST(TokenizerLoadError, UnsupportedModelType) {
  load_error_for(with("/model/type", "WordPiece"), "WordPiece");
  load_error_for(with("/model/type", "Unigram"), "Unigram");
  load_error_for(R"({"normalizer": null})", "model");
}

TEST(TokenizerLoadError, UnsupportedPipelineParts) {
  load_error_for(with("/normalizer", {{"type", "BertNormalizer"}}), "BertNormalizer");
  load_error_for(with("/pre_tokenizer", {{"type", "Metaspace"}}), "Metaspace");
  load_error_for(with("/post_processor", {{"type", "Whatever"}}), "Whatever");
  load_error_for(with("/decoder", {{"type", "WordPiece"}}), "WordPiece");
  load_error_for(with("/pre_tokenizer", {{"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Sideways"}}),
                 "Sideways");
  load_error_for(with("/model/dropout", 0.1), "dropout");
}

TEST(TokenizerLoadError, BadRegex) {
  load_error_for(
      with("/pre_tokenizer", {{"type", "Split"}, {"pattern", {{"Regex", "(?<oops"}}}, {"behavior", "Isolated"}}),
      "(?<oops");
}

TEST(TokenizerLoadError, MalformedModel) {
  load_error_for(with("/model/merges/0", "a b c"), "a b c");
  load_error_for(with("/model/merges/0", "a zz"), "missing from the vocab");
  load_error_for(with("/model/vocab/a", "ninety-seven"), "model");
  load_error_for(with("/model/vocab/a", -3), "out of range");
  load_error_for(with("/post_processor/single/0/SpecialToken/id", "<nope>"), "<nope>");
  load_error_for(with("/model/vocab", nlohmann::json::array()), "vocab");
  load_error_for(with("/model/merges", nlohmann::json::object()), "merges");
  load_error_for(with("/model/merges/0", {"a", "b", "c"}), "pair");
  std::string duplicated = test::tiny_tokenizer_json().dump();
  const std::string entry = "\"ab\":256";
  ASSERT_NE(duplicated.find(entry), std::string::npos);
  duplicated.replace(duplicated.find(entry), entry.size(), entry + ",\"ab\":262");
  load_error_for(duplicated, "twice");
}

}  // namespace
}  // namespace troupe
