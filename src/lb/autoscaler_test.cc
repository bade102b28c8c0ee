#include "lb/autoscaler.h"

#include <gtest/gtest.h>

namespace weft::lb {
namespace {

using namespace std::chrono_literals;

AutoscalerConfig Config(int min, int max) {
  AutoscalerConfig c;
  c.min_replicas = min;
  c.max_replicas = max;
  c.target_qps_per_replica = 10;
  c.upscale_delay = 30s;
  c.downscale_delay = 300s;
  return c;
}

TimePoint T(Duration d) { return FromUnixMicros(0) + d; }

TEST(AutoscalerTest, UpscalesOnlyAfterTheNeedPersistsForTheDelay) {
  Autoscaler a(Config(1, 8), 1);
  EXPECT_EQ(a.Update(T(0s), {.qps = 35}), 1);
  EXPECT_EQ(a.wanted(), 4);
  EXPECT_EQ(a.Update(T(29s), {.qps = 35}), 1);
  EXPECT_EQ(a.Update(T(30s), {.qps = 35}), 4);
}

TEST(AutoscalerTest, ASpikeShorterThanTheDelayChangesNothing) {
  Autoscaler a(Config(1, 8), 1);
  a.Update(T(0s), {.qps = 50});
  a.Update(T(20s), {.qps = 50});
  EXPECT_EQ(a.Update(T(21s), {.qps = 5}), 1);  // need gone: the wait restarts
  a.Update(T(22s), {.qps = 50});
  EXPECT_EQ(a.Update(T(51s), {.qps = 50}), 1);  // 29 s since it came back
  EXPECT_EQ(a.Update(T(52s), {.qps = 50}), 5);
}

TEST(AutoscalerTest, DownscalesAfterTheLongerDelay) {
  Autoscaler a(Config(1, 8), 4);
  EXPECT_EQ(a.Update(T(0s), {.qps = 12}), 4);
  EXPECT_EQ(a.Update(T(299s), {.qps = 12}), 4);
  EXPECT_EQ(a.Update(T(300s), {.qps = 12}), 2);
}

TEST(AutoscalerTest, StaysWithinBounds) {
  Autoscaler a(Config(2, 3), 0);
  EXPECT_EQ(a.desired(), 2);  // initial clamped to min
  a.Update(T(0s), {.qps = 1000});
  EXPECT_EQ(a.Update(T(30s), {.qps = 1000}), 3);
  a.Update(T(31s), {.qps = 0});
  EXPECT_EQ(a.Update(T(400s), {.qps = 0}), 2);
}

TEST(AutoscalerTest, ConcurrencyIsASecondCriterion) {
  AutoscalerConfig c = Config(1, 8);
  c.max_concurrent_per_replica = 4;
  Autoscaler a(c, 1);
  a.Update(T(0s), {.qps = 1, .in_flight = 13});
  EXPECT_EQ(a.wanted(), 4);  // ceil(13 / 4) beats ceil(1 / 10)
  EXPECT_EQ(a.Update(T(30s), {.qps = 1, .in_flight = 13}), 4);
}

TEST(AutoscalerTest, ScalesToZeroWhenIdleAndFromZeroAtOnce) {
  Autoscaler a(Config(0, 4), 1);
  a.Update(T(0s), {.qps = 0});
  EXPECT_EQ(a.Update(T(299s), {.qps = 0}), 1);
  EXPECT_EQ(a.Update(T(300s), {.qps = 0}), 0);
  // A request arrives and is held: one replica at once, no upscale delay.
  EXPECT_EQ(a.Update(T(301s), {.qps = 0, .in_flight = 1, .held = 1}), 1);
  // Further growth obeys the delay again.
  a.Update(T(302s), {.qps = 40});
  EXPECT_EQ(a.Update(T(331s), {.qps = 40}), 1);
  EXPECT_EQ(a.Update(T(332s), {.qps = 40}), 4);
}

TEST(AutoscalerTest, NeverScalesToZeroWhileARequestIsHeldOrInFlight) {
  Autoscaler a(Config(0, 4), 0);
  EXPECT_EQ(a.Update(T(0s), {.qps = 0, .in_flight = 1, .held = 1}), 1);
  // The cold start outlasts downscale_delay; the QPS window has seen nothing finish yet.
  EXPECT_EQ(a.Update(T(400s), {.qps = 0, .in_flight = 1, .held = 1}), 1);
  EXPECT_EQ(a.Update(T(401s), {.qps = 0, .in_flight = 1}), 1);
}

TEST(AutoscalerTest, WithoutAutoscalingWantsMin) {
  AutoscalerConfig c = Config(2, 5);
  c.target_qps_per_replica = 0;
  Autoscaler a(c, 4);
  EXPECT_EQ(a.Update(T(0s), {.qps = 1000}), 2);
}

TEST(AutoscalerTest, ReconfigureClampsToTheNewBounds) {
  Autoscaler a(Config(1, 8), 6);
  a.Reconfigure(Config(1, 3));
  EXPECT_EQ(a.desired(), 3);
}

}  // namespace
}  // namespace weft::lb
