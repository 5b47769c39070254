// make_report: counts, throughputs, goodput and summaries from hand-made records.
#include <gtest/gtest.h>

#include <sstream>

#include "bench/loadgen/report.h"

namespace troupe::loadgen {
namespace {

RequestRecord ok_record(double ttft_s, double e2e_s, int32_t out_tokens) {
  RequestRecord r;
  r.ok = true;
  r.prompt_tokens = 10;
  r.output_tokens = out_tokens;
  r.content_chunks = out_tokens;
  r.ttft_s = ttft_s;
  r.e2e_s = e2e_s;
  for (int32_t i = 1; i < out_tokens; ++i) r.itl_s.push_back((e2e_s - ttft_s) / (out_tokens - 1));
  return r;
}

TEST(Report, CountsThroughputsAndGoodput) {
  RequestRecord failed;
  failed.error = "HTTP 500: boom";
  RequestRecord cancelled;
  cancelled.cancelled = true;
  cancelled.error = "cancelled";
  // TPOTs: (1.1-0.1)/10 = 100 ms, (2.5-0.5)/10 = 200 ms, (0.3-0.2)/1 = 100 ms.
  const std::vector<RequestRecord> records = {ok_record(0.1, 1.1, 11), ok_record(0.5, 2.5, 11),
                                              ok_record(0.2, 0.3, 2), failed, cancelled};
  GoodputLimits limits;
  ASSERT_EQ(add_goodput_limit("ttft:300", limits), "");
  ASSERT_EQ(add_goodput_limit("tpot:150", limits), "");
  const BenchReport r = make_report(records, 2.0, limits);
  EXPECT_EQ(r.completed, 3u);
  EXPECT_EQ(r.failed, 1u);  // cancelled is neither
  EXPECT_EQ(r.cancelled, 1u);
  EXPECT_EQ(r.errors.at("HTTP 500: boom"), 1u);
  EXPECT_EQ(r.total_input_tokens, 30);
  EXPECT_EQ(r.total_output_tokens, 24);
  EXPECT_DOUBLE_EQ(r.request_throughput, 1.5);
  EXPECT_DOUBLE_EQ(r.output_throughput, 12.0);
  EXPECT_DOUBLE_EQ(r.total_token_throughput, 27.0);
  ASSERT_TRUE(r.goodput.has_value());
  EXPECT_DOUBLE_EQ(*r.goodput, 1.0);  // the 1st and 3rd meet both; the 2nd misses both
  EXPECT_NEAR(r.ttft_ms.mean, 800.0 / 3, 1e-9);
  EXPECT_NEAR(r.ttft_ms.median, 200, 1e-9);
  EXPECT_NEAR(r.tpot_ms.median, 100, 1e-9);
  EXPECT_EQ(r.itl_ms.count, 21u);
  EXPECT_NEAR(r.e2el_ms.p99, 1100 + (2500 - 1100) * 0.98, 1e-6);  // rank 1.98 of {300, 1100, 2500}

  std::ostringstream table;
  print_report(table, r);
  EXPECT_NE(table.str().find("Request goodput (req/s):"), std::string::npos);
  const auto j = report_json(r);
  EXPECT_EQ(j["completed"], 3);
  EXPECT_EQ(j["ttft_ms"]["median"], r.ttft_ms.median);
  EXPECT_EQ(j["goodput_limits_ms"]["tpot"], 150.0);
}

TEST(Report, NoLimitsNoGoodput) {
  const BenchReport r = make_report({ok_record(0.1, 0.2, 2)}, 1.0, {});
  EXPECT_FALSE(r.goodput.has_value());
  EXPECT_TRUE(report_json(r)["request_goodput"].is_null());
}

TEST(Report, LayoutPicksMetricsAndPercentilesAsVllmDoes) {
  ReportLayout layout;
  ASSERT_EQ(parse_percentile_metrics("ttft, e2el", layout), "");
  ASSERT_EQ(parse_metric_percentiles("50,99.9", layout), "");
  const BenchReport r = make_report({ok_record(0.1, 1.1, 11), ok_record(0.3, 0.5, 3)}, 1.0, {}, false, layout);
  std::ostringstream table;
  print_report(table, r);
  EXPECT_NE(table.str().find("P50 TTFT (ms):"), std::string::npos) << table.str();
  EXPECT_NE(table.str().find("P99.9 E2EL (ms):"), std::string::npos) << table.str();
  EXPECT_EQ(table.str().find("P90 TTFT"), std::string::npos) << table.str();
  EXPECT_EQ(table.str().find("ITL"), std::string::npos) << table.str();
  const auto j = report_json(r);
  EXPECT_NEAR(j["p50_ttft_ms"].get<double>(), 200, 1e-9);  // halfway between 100 and 300
  EXPECT_NEAR(j["mean_e2el_ms"].get<double>(), 800, 1e-9);
  EXPECT_TRUE(j.contains("p99.9_e2el_ms"));
  EXPECT_FALSE(j.contains("mean_itl_ms"));
  EXPECT_EQ(j["duration"], 1.0);

  EXPECT_NE(parse_percentile_metrics("ttft,latency", layout), "");
  EXPECT_NE(parse_metric_percentiles("0", layout), "");
  EXPECT_NE(parse_metric_percentiles("99x", layout), "");
}

TEST(Report, GoodputSpecsAreChecked) {
  GoodputLimits l;
  EXPECT_EQ(add_goodput_limit("e2e:1000", l), "");
  EXPECT_EQ(*l.e2el_ms, 1000);
  EXPECT_NE(add_goodput_limit("ttft", l), "");
  EXPECT_NE(add_goodput_limit("ttft:abc", l), "");
  EXPECT_NE(add_goodput_limit("ttft:-5", l), "");
  EXPECT_NE(add_goodput_limit("latency:5", l), "");
}

}  // namespace
}  // namespace troupe::loadgen
