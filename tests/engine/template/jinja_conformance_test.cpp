// Renders every case of jinja_conformance_cases.json (written by make_jinja_cases.py from
// jinja2 set up as transformers sets it up) and compares bytes. Cases where jinja2 raised must
// raise TemplateError here too. The "ws" cases are seeded random mixes of tags, whitespace
// control markers and whitespace, which is where a hand-written lexer most easily drifts.
#include <gtest/gtest.h>

#include <fstream>

#include "engine/template/chat_template.h"

namespace troupe {
namespace {

struct ConformanceCase {
  std::string name;
  std::string source;
  std::string expected;
  bool expect_error = false;
};

const nlohmann::ordered_json& corpus() {
  static const nlohmann::ordered_json data = [] {
    std::ifstream in(TROUPE_TEMPLATE_CASES);
    return in ? nlohmann::ordered_json::parse(in) : nlohmann::ordered_json();
  }();
  return data;
}

std::vector<ConformanceCase> load_cases() {
  std::vector<ConformanceCase> out;
  if (corpus().is_null()) return out;
  for (const auto& c : corpus()["cases"]) {
    ConformanceCase cc;
    cc.name = c["name"].get<std::string>();
    cc.source = c["template"].get<std::string>();
    cc.expect_error = c.contains("error");
    if (!cc.expect_error) cc.expected = c["expected"].get<std::string>();
    out.push_back(std::move(cc));
  }
  return out;
}

TEST(JinjaConformance, CorpusIsPresent) {
  ASSERT_FALSE(corpus().is_null()) << "cannot read " << TROUPE_TEMPLATE_CASES;
  EXPECT_GT(corpus()["cases"].size(), 200u);
}

class JinjaConformance : public ::testing::TestWithParam<ConformanceCase> {};

TEST_P(JinjaConformance, MatchesJinja2) {
  const ConformanceCase& c = GetParam();
  SCOPED_TRACE("template: " + nlohmann::json(c.source).dump());
  if (c.expect_error) {
    EXPECT_THROW(ChatTemplate::parse(c.source).render(corpus()["context"]), TemplateError);
    return;
  }
  EXPECT_EQ(ChatTemplate::parse(c.source).render(corpus()["context"]), c.expected);
}

INSTANTIATE_TEST_SUITE_P(Corpus, JinjaConformance, ::testing::ValuesIn(load_cases()),
                         [](const ::testing::TestParamInfo<ConformanceCase>& info) { return info.param.name; });

}  // namespace
}  // namespace troupe
