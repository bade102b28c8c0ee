#include "api/metrics.h"

#include <gtest/gtest.h>

#include <limits>
#include <thread>

namespace weft::api {
namespace {

TEST(MetricsTest, CounterRendersHelpTypeAndEscapedLabels) {
  MetricsRegistry registry;
  CounterFamily& c = registry.AddCounter("weft_things_total", "Things.\nWith \\ a newline.", {"queue"});
  c.Inc({"a\"b\\c\nd"}, 2);
  c.Inc({"plain"});

  EXPECT_EQ(registry.Render(),
            "# HELP weft_things_total Things.\\nWith \\\\ a newline.\n"
            "# TYPE weft_things_total counter\n"
            "weft_things_total{queue=\"a\\\"b\\\\c\\nd\"} 2\n"
            "weft_things_total{queue=\"plain\"} 1\n");
}

TEST(MetricsTest, CountersNeverDecrease) {
  MetricsRegistry registry;
  CounterFamily& c = registry.AddCounter("weft_c_total", "c", {});
  c.Inc({}, 3);
  c.Inc({}, -1);
  c.Inc({}, std::numeric_limits<double>::quiet_NaN());
  c.Inc({}, 0.5);
  EXPECT_EQ(c.Value({}), 3.5);
  EXPECT_NE(registry.Render().find("\nweft_c_total 3.5\n"), std::string::npos) << registry.Render();
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  MetricsRegistry registry;
  HistogramFamily& h = registry.AddHistogram("weft_wait_seconds", "Wait.", {"queue"}, {0.5, 1, 10});
  for (double v : {0.1, 0.5, 0.7, 5.0, 100.0}) h.Observe({"q"}, v);

  EXPECT_EQ(registry.Render(),
            "# HELP weft_wait_seconds Wait.\n"
            "# TYPE weft_wait_seconds histogram\n"
            "weft_wait_seconds_bucket{queue=\"q\",le=\"0.5\"} 2\n"  // le is inclusive
            "weft_wait_seconds_bucket{queue=\"q\",le=\"1\"} 3\n"
            "weft_wait_seconds_bucket{queue=\"q\",le=\"10\"} 4\n"
            "weft_wait_seconds_bucket{queue=\"q\",le=\"+Inf\"} 5\n"
            "weft_wait_seconds_sum{queue=\"q\"} 106.3\n"
            "weft_wait_seconds_count{queue=\"q\"} 5\n");
}

TEST(MetricsTest, UnlabelledHistogramAndGaugesSortedByName) {
  MetricsRegistry registry;
  HistogramFamily& h = registry.AddHistogram("weft_b_seconds", "B.", {}, {1});
  h.Observe({}, 2);
  GaugeFamily g{"weft_a", "A.", {"pool", "state"}, {}};
  g.Set({"p2", "UP"}, 1);
  g.Set({"p1", "DOWN"}, 0);

  EXPECT_EQ(registry.Render({g}),
            "# HELP weft_a A.\n"
            "# TYPE weft_a gauge\n"
            "weft_a{pool=\"p1\",state=\"DOWN\"} 0\n"
            "weft_a{pool=\"p2\",state=\"UP\"} 1\n"
            "# HELP weft_b_seconds B.\n"
            "# TYPE weft_b_seconds histogram\n"
            "weft_b_seconds_bucket{le=\"1\"} 0\n"
            "weft_b_seconds_bucket{le=\"+Inf\"} 1\n"
            "weft_b_seconds_sum 2\n"
            "weft_b_seconds_count 1\n");
}

TEST(MetricsTest, ValuesFormat) {
  EXPECT_EQ(FormatMetricValue(1), "1");
  EXPECT_EQ(FormatMetricValue(0.25), "0.25");
  EXPECT_EQ(FormatMetricValue(1e12), "1000000000000");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(MetricsTest, ConcurrentUpdatesAreAllCounted) {
  MetricsRegistry registry;
  CounterFamily& c = registry.AddCounter("weft_c_total", "c", {"t"});
  HistogramFamily& h = registry.AddHistogram("weft_h_seconds", "h", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.Inc({"x"});
        h.Observe({}, 0.5);
        if (i % 1000 == 0) registry.Render();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value({"x"}), 40000);
  EXPECT_NE(registry.Render().find("weft_h_seconds_count 40000\n"), std::string::npos);
}

}  // namespace
}  // namespace weft::api
