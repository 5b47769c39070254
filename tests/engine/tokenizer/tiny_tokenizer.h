#pragma once
// A small byte-level BPE tokenizer.json built in code, so each pipeline rule can be pinned with ids
// that are easy to reason about: byte b has id b, merges below 300, added tokens from 300.
#include <nlohmann/json.hpp>
#include <string>

#include "engine/tokenizer/byte_level.h"

namespace troupe::test {

inline nlohmann::json tiny_tokenizer_json() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level::encode(std::string(1, static_cast<char>(b)))] = b;
  vocab["ab"] = 256;
  vocab["bc"] = 257;
  vocab["abc"] = 258;
  vocab["aa"] = 259;
  vocab["\xC4\xA0" "a"] = 260;  // "Ġa": space + a
  nlohmann::json merges = nlohmann::json::array({"a b", "b c", "ab c", "a a", "\xC4\xA0 a"});
  auto added = [](int id, const std::string& content, bool special) {
    return nlohmann::json{{"id", id},         {"content", content}, {"single_word", false}, {"lstrip", false},
                          {"rstrip", false},  {"normalized", false}, {"special", special}};
  };
  nlohmann::json added_tokens = nlohmann::json::array();
  added_tokens.push_back(added(300, "<bos>", true));
  added_tokens.push_back(added(301, "<eos>", true));
  added_tokens.push_back(added(302, "<x>", false));
  added_tokens.push_back(added(303, "<xy>", false));
  added_tokens.push_back(added(304, "[L]", true));
  added_tokens.back()["lstrip"] = true;
  added_tokens.push_back(added(305, "[R]", true));
  added_tokens.back()["rstrip"] = true;
  added_tokens.push_back(added(306, "[W]", true));
  added_tokens.back()["single_word"] = true;
  return {
      {"version", "1.0"},
      {"added_tokens", added_tokens},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         nlohmann::json::array({{{"SpecialToken", {{"id", "<bos>"}, {"type_id", 0}}}},
                                {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                {{"SpecialToken", {{"id", "<eos>"}, {"type_id", 0}}}}})},
        {"pair", nlohmann::json::array()},
        {"special_tokens",
         {{"<bos>", {{"id", "<bos>"}, {"ids", {300}}, {"tokens", {"<bos>"}}}},
          {"<eos>", {{"id", "<eos>"}, {"ids", {301}}, {"tokens", {"<eos>"}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
        {"vocab", vocab}, {"merges", merges}}},
  };
}

}  // namespace troupe::test
