#include "lb/lb_stats.h"

#include <gtest/gtest.h>

namespace weft::lb {
namespace {

using namespace std::chrono_literals;

const TimePoint kT0 = FromUnixMicros(1'700'000'000'000'000);

TEST(TrafficStatsTest, CountsRequestsAndErrors) {
  TrafficStats stats;

  stats.Record(kT0, 1ms, false);
  stats.Record(kT0, 1ms, true);
  stats.Record(kT0, 1ms, false);
  const TrafficSummary s = stats.Summarize(kT0);

  EXPECT_EQ(s.requests, 3);
  EXPECT_EQ(s.errors, 1);
}

TEST(TrafficStatsTest, PercentilesCoverTheRecentWindowOnly) {
  TrafficStats stats(TrafficWindow{.latency_window = 60s, .qps_window_seconds = 10});
  for (int i = 0; i < 100; ++i) stats.Record(kT0, 500ms, false);  // old, slow
  for (int i = 1; i <= 100; ++i) stats.Record(kT0 + 120s, Duration(i * 1000), false);

  const TrafficSummary s = stats.Summarize(kT0 + 121s);

  EXPECT_EQ(s.latency_samples, 100);
  EXPECT_EQ(s.p50, 51ms);
  EXPECT_EQ(s.p99, 100ms);
}

TEST(TrafficStatsTest, EmptyWindowHasZeroLatency) {
  TrafficStats stats;

  const TrafficSummary s = stats.Summarize(kT0);

  EXPECT_EQ(s.latency_samples, 0);
  EXPECT_EQ(s.p50, Duration(0));
  EXPECT_EQ(s.qps, 0);
}

TEST(TrafficStatsTest, QpsIsTheRateOverTheLastSeconds) {
  TrafficStats stats(TrafficWindow{.latency_window = 60s, .qps_window_seconds = 10});
  for (int second = 0; second < 30; ++second) {
    for (int i = 0; i < 5; ++i) stats.Record(kT0 + std::chrono::seconds(second), 1ms, false);
  }

  EXPECT_DOUBLE_EQ(stats.Summarize(kT0 + 29s).qps, 5.0);
  EXPECT_DOUBLE_EQ(stats.Summarize(kT0 + 34s).qps, 2.5);  // 5 of the last 10 s had traffic
  EXPECT_DOUBLE_EQ(stats.Summarize(kT0 + 100s).qps, 0.0);
}

TEST(TrafficStatsTest, KeepsABoundedNumberOfSamples) {
  TrafficStats stats;

  for (std::size_t i = 0; i < TrafficStats::kMaxSamples + 100; ++i) {
    stats.Record(kT0, i < 100 ? 1s : 1ms, false);
  }
  const TrafficSummary s = stats.Summarize(kT0);

  EXPECT_EQ(s.latency_samples, static_cast<std::int64_t>(TrafficStats::kMaxSamples));
  EXPECT_EQ(s.p99, 1ms);  // the 100 slow ones were overwritten
}

}  // namespace
}  // namespace weft::lb
