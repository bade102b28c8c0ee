#include "sched/planner.h"

#include <gtest/gtest.h>

#include "testing/builders.h"

namespace weft::sched {
namespace {

using namespace std::chrono_literals;
using testing::AddRunning;
using testing::JobBuilder;
using testing::NodeBuilder;

const TimePoint kNow = TimePoint{} + 1000s;

ClusterSnapshot TwoNodes() {
  ClusterSnapshot c;
  c.nodes.push_back(NodeBuilder("a").Cpus(4).Build());
  c.nodes.push_back(NodeBuilder("b").Cpus(4).Build());
  return c;
}

const std::vector<std::size_t> kBoth = {0, 1};

TEST(PlannerTest, EarliestStartIsWhenEnoughNodesAreFree) {
  ClusterSnapshot c = TwoNodes();
  AddRunning(c, 10, {"a"}, {4000, 0, 0}, kNow + 30s);
  AddRunning(c, 11, {"b"}, {4000, 0, 0}, kNow + 60s);
  const Planner planner(c, kNow);

  const auto one = planner.EarliestStart(JobBuilder(1).Cpus(4).TimeLimit(10s).Build(), kBoth);
  const auto two = planner.EarliestStart(JobBuilder(2).Nodes(2).Cpus(4).TimeLimit(10s).Build(), kBoth);

  ASSERT_TRUE(one && two);
  EXPECT_EQ(one->start, kNow + 30s);
  EXPECT_EQ(one->nodes, (std::vector<std::size_t>{0}));
  EXPECT_EQ(two->start, kNow + 60s);
  EXPECT_EQ(two->nodes, kBoth);
}

TEST(PlannerTest, JobWithoutTimeLimitHoldsItsNodesForever) {
  ClusterSnapshot c = TwoNodes();
  AddRunning(c, 10, {"a"}, {4000, 0, 0}, std::nullopt);
  const Planner planner(c, kNow);

  EXPECT_FALSE(planner.EarliestStart(JobBuilder(1).Nodes(2).Cpus(1).TimeLimit(1s).Build(), kBoth));
  EXPECT_TRUE(planner.EarliestStart(JobBuilder(1).Cpus(1).Build(), kBoth));  // b, for ever
}

TEST(PlannerTest, ReservationLeavesGapsOnlyForShortEnoughJobs) {
  ClusterSnapshot c = TwoNodes();
  AddRunning(c, 10, {"a"}, {4000, 0, 0}, kNow + 30s);
  Planner planner(c, kNow);
  const PendingJob big = JobBuilder(1).Nodes(2).Cpus(4).TimeLimit(100s).Build();
  const auto slot = planner.EarliestStart(big, kBoth);
  ASSERT_TRUE(slot);
  planner.Reserve(big, slot->nodes, slot->start, EndAfter(slot->start, big.time_limit));

  EXPECT_TRUE(planner.HasReservation(1));
  EXPECT_TRUE(planner.Fits(1, JobBuilder(2).Cpus(4).Build(), kNow, kNow + 30s));
  EXPECT_FALSE(planner.Fits(1, JobBuilder(3).Cpus(4).Build(), kNow, kNow + 31s));
  // After the reservation ends, the next 4-cpu job on a node waits until then.
  const auto next = planner.EarliestStart(JobBuilder(4).Cpus(4).TimeLimit(50s).Build(), kBoth);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->start, kNow + 130s);
}

TEST(PlannerTest, OverdueAllocationCountsAsEndingNowAndExclusiveNeedsIdleNode) {
  ClusterSnapshot c = TwoNodes();
  AddRunning(c, 10, {"a"}, {1000, 0, 0}, kNow - 5s);
  AddRunning(c, 11, {"b"}, {1000, 0, 0}, kNow + 20s);
  const Planner planner(c, kNow);

  const auto slot = planner.EarliestStart(JobBuilder(1).Nodes(2).Exclusive().TimeLimit(1s).Build(), kBoth);

  ASSERT_TRUE(slot);
  EXPECT_EQ(slot->start, kNow + 20s);
}

}  // namespace
}  // namespace weft::sched
