// The metrics registry's exposition text and the structured log line
// formats, byte for byte: outside tools (Prometheus, log collectors) parse
// them.
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/client_metric.h"
#include "services/observability/metrics.h"
#include "services/observability/structured_log.h"

namespace tally::obs {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, RendersCountersAndGaugesWithHelpTypeAndLabels) {
  MetricsRegistry registry;
  Counter* refused = registry.AddCounter("tally_things_total", "Things.",
                                         {{"outcome", "refused"}});
  Counter* accepted = registry.AddCounter("tally_things_total", "Things.",
                                          {{"outcome", "accepted"}});
  Gauge* depth = registry.AddGauge("tally_depth", "Depth.");
  accepted->Increment(3);
  refused->Increment();
  depth->Set(2.5);
  depth->Decrement();
  // Same name and labels: the same series.
  EXPECT_EQ(registry.AddCounter("tally_things_total", "Things.",
                                {{"outcome", "accepted"}}),
            accepted);
  // Families by name, series by labels, whatever the order of creation.
  EXPECT_EQ(registry.Render(),
            "# HELP tally_depth Depth.\n"
            "# TYPE tally_depth gauge\n"
            "tally_depth 1.5\n"
            "# HELP tally_things_total Things.\n"
            "# TYPE tally_things_total counter\n"
            "tally_things_total{outcome=\"accepted\"} 3\n"
            "tally_things_total{outcome=\"refused\"} 1\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndInclusive) {
  MetricsRegistry registry;
  Histogram* histogram =
      registry.AddHistogram("tally_size", "Sizes.", {1, 2, 4});
  for (double value : {0.5, 1.0, 1.5, 2.0, 3.0, 100.0}) {
    histogram->Observe(value);
  }
  EXPECT_EQ(registry.Render(),
            "# HELP tally_size Sizes.\n"
            "# TYPE tally_size histogram\n"
            "tally_size_count 6\n"
            "tally_size_sum 108\n"
            "tally_size_bucket{le=\"1\"} 2\n"
            "tally_size_bucket{le=\"2\"} 4\n"
            "tally_size_bucket{le=\"4\"} 5\n"
            "tally_size_bucket{le=\"+Inf\"} 6\n");
}

TEST(MetricsTest, ConcurrentUpdatesAreAllCounted) {
  MetricsRegistry registry;
  Histogram* histogram =
      registry.AddHistogram("tally_h", "H.", ExponentialBuckets(1, 2, 10));
  Counter* counter = registry.AddCounter("tally_c_total", "C.");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        histogram->Observe(i % 700);
        counter->Increment();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(counter->Value(), 40000);
  const prometheus::ClientMetric metric = histogram->Collect();
  EXPECT_EQ(metric.histogram.sample_count, 40000u);
  EXPECT_EQ(metric.histogram.bucket.back().cumulative_count, 40000u);
  double expected_sum = 0;
  for (int i = 0; i < 10000; ++i) expected_sum += 4 * (i % 700);
  EXPECT_DOUBLE_EQ(metric.histogram.sample_sum, expected_sum);
}

TEST(MetricsTest, CallbacksAreReadAtScrapeTime) {
  MetricsRegistry registry;
  double outbox = 7;
  registry.AddGaugeCallback("tally_outbox_depth", "Outbox.",
                            [&outbox] { return outbox; });
  registry.AddCounterCallback("tally_appended_total", "Appended.",
                              [] { return 12.0; }, {{"region", "astana"}});
  EXPECT_THAT(registry.Render(), HasSubstr("# TYPE tally_outbox_depth gauge\n"
                                           "tally_outbox_depth 7\n"));
  outbox = 0;
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("tally_outbox_depth 0\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE tally_appended_total counter\n"
                              "tally_appended_total{region=\"astana\"} 12\n"));
}

TEST(MetricsTest, EscapesLabelValues) {
  MetricsRegistry registry;
  registry.AddGauge("tally_g", "G.", {{"path", "a\"b\\c\nd"}});
  EXPECT_THAT(registry.Render(),
              HasSubstr("tally_g{path=\"a\\\"b\\\\c\\nd\"} 0\n"));
}

TEST(MetricsTest, ClashesAndBadNamesAreNotExported) {
  MetricsRegistry registry;
  registry.AddCounter("tally_x", "X.")->Increment(5);
  Gauge* clash = registry.AddGauge("tally_x", "X as a gauge.");
  ASSERT_NE(clash, nullptr);
  clash->Set(99);  // usable, but not exported
  registry.AddGaugeCallback("tally_x", "X again.", [] { return 98.0; });
  Counter* bad = registry.AddCounter("not a name", "Bad.");
  ASSERT_NE(bad, nullptr);
  bad->Increment();
  EXPECT_EQ(registry.Render(),
            "# HELP tally_x X.\n"
            "# TYPE tally_x counter\n"
            "tally_x 5\n");
}

TEST(MetricsTest, ExponentialBuckets) {
  EXPECT_EQ(ExponentialBuckets(0.5, 2, 4), (std::vector<double>{0.5, 1, 2, 4}));
}

TEST(MetricsTest, ProcessMetricsArePresent) {
  MetricsRegistry registry;
  AddProcessMetrics(registry, "tally-test", "9.9.9");
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("tally_build_info{service=\"tally-test\","
                              "version=\"9.9.9\"} 1\n"));
  for (const char* family :
       {"process_start_time_seconds", "process_cpu_seconds_total",
        "process_resident_memory_bytes", "process_open_fds"}) {
    EXPECT_THAT(text, HasSubstr(std::string("\n") + family + " ")) << family;
  }
}

const absl::Time kTime = absl::FromUnixMillis(1679256062345);  // 2023-03-19

TEST(StructuredLogTest, TextIsLogfmt) {
  EXPECT_EQ(
      FormatLogLine(LogFormat::kText, kTime, LogLevel::kInfo,
                    "tally-aggregator", "serving on 0.0.0.0:7400",
                    {{"port", 7400}, {"tls", true}, {"region", "astana"}}),
      "ts=2023-03-19T20:01:02.345Z level=info service=tally-aggregator "
      "msg=\"serving on 0.0.0.0:7400\" port=7400 tls=true region=astana");
  EXPECT_EQ(FormatLogLine(LogFormat::kText, kTime, LogLevel::kWarning, "s", "m",
                          {{"reason", "a \"b\"\nc=d"}, {"empty", ""}}),
            "ts=2023-03-19T20:01:02.345Z level=warning service=s msg=m "
            "reason=\"a \\\"b\\\"\\nc=d\" empty=\"\"");
}

TEST(StructuredLogTest, JsonKeepsNumbersAndEscapesStrings) {
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, kTime, LogLevel::kError,
                          "tally-relay", "upstream \"down\"",
                          {{"attempt", uint64_t{3}},
                           {"ratio", 0.5},
                           {"ok", false},
                           {"reason", "tab\there\x01"}}),
            "{\"ts\":\"2023-03-19T20:01:02.345Z\",\"level\":\"error\","
            "\"service\":\"tally-relay\",\"msg\":\"upstream \\\"down\\\"\","
            "\"attempt\":3,\"ratio\":0.5,\"ok\":false,"
            "\"reason\":\"tab\\there\\u0001\"}");
  // Not a JSON number: quoted.
  EXPECT_THAT(FormatLogLine(LogFormat::kJson, kTime, LogLevel::kInfo, "s", "m",
                            {{"x", 1.0 / 0.0}}),
              HasSubstr("\"x\":\"inf\""));
}

TEST(StructuredLogTest, ConfigureRefusesUnknownFormats) {
  EXPECT_TRUE(ConfigureLogging("tally-test", "json").ok());
  EXPECT_TRUE(ConfigureLogging("tally-test", "text").ok());
  const absl::Status status = ConfigureLogging("tally-test", "xml");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("text, json"));
}

}  // namespace
}  // namespace tally::obs
