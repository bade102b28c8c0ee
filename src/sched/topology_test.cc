// Topology-aware gang placement: packing by switch and rack, --topology constraints, GPU
// models, and reservations that respect the constraint.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "sched/gang_placer.h"
#include "sched/planner.h"
#include "sched/scheduler.h"
#include "testing/builders.h"
#include "testing/cycle_result.h"

namespace weft::sched {
namespace {

using namespace std::chrono_literals;
using testing::AddRunning;
using testing::JobBuilder;
using testing::FindStart;
using testing::ReasonOf;
using testing::NodeBuilder;

const TimePoint kNow = TimePoint{} + 1000s;

// A node with 4 CPUs on `sw` in `rack`.
NodeView Node(const std::string& name, const std::string& sw, const std::string& rack) {
  return NodeBuilder(name).Cpus(4).Label("switch", sw).Label("rack", rack).Build();
}

// The value of `key` on every node the job started on.
std::multiset<std::string> LabelsOf(const ClusterSnapshot& c, const StartDecision& start,
                                    const std::string& key) {
  std::multiset<std::string> out;
  for (const auto& rank : start.allocation.ranks) {
    for (const NodeView& node : c.nodes) {
      if (node.name == rank.node) out.insert(node.labels.at(key));
    }
  }
  return out;
}

TEST(TopologyTest, GangLandsOnOneSwitchWhenOneHoldsIt) {
  // Two switches of 4 free nodes each, interleaved in node order: the old "first four by
  // node order" would have spanned both.
  ClusterSnapshot c;
  for (int i = 1; i <= 8; ++i) {
    c.nodes.push_back(Node("n" + std::to_string(i), i % 2 ? "s1" : "s2", "r1"));
  }
  const Scheduler scheduler(DefaultProfile());
  const std::vector<PendingJob> pending = {JobBuilder(1).Nodes(4).Build()};

  const CycleResult r = scheduler.RunCycle(c, pending, kNow);

  const StartDecision* start = FindStart(r, 1);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(LabelsOf(c, *start, "switch"), (std::multiset<std::string>{"s1", "s1", "s1", "s1"}));
}

TEST(TopologyTest, GangThatFitsNoSwitchUsesTheFewest) {
  // Free nodes: s1 has 3, s2 has 2, s3 has 5 (interleaved). 7 nodes: all of s3, and the
  // remaining 2 on the smallest switch that holds them, s2: two switches, not three.
  ClusterSnapshot c;
  const char* switches[] = {"s1", "s3", "s2", "s3", "s1", "s3", "s2", "s3", "s1", "s3"};
  for (int i = 0; i < 10; ++i) {
    c.nodes.push_back(Node("n" + std::to_string(10 + i), switches[i], "r1"));
  }
  const Scheduler scheduler(DefaultProfile());
  const std::vector<PendingJob> pending = {JobBuilder(1).Nodes(7).Build()};

  const CycleResult r = scheduler.RunCycle(c, pending, kNow);

  const StartDecision* start = FindStart(r, 1);
  ASSERT_NE(start, nullptr);
  const std::multiset<std::string> used = LabelsOf(c, *start, "switch");
  EXPECT_EQ(used.count("s3"), 5u);
  EXPECT_EQ(used.count("s2"), 2u);
  EXPECT_EQ(used.count("s1"), 0u);
}

TEST(TopologyTest, SpreadGangStaysInOneRackWhenOneHoldsIt) {
  // r1: two switches of 2 nodes; r2: switches of 3 and 1. No switch holds 4, both racks do;
  // each rack needs two switches, so the tie goes to the rack with the better score: r2,
  // whose nodes are partly used (best fit).
  ClusterSnapshot c;
  c.nodes = {Node("a1", "s1", "r1"), Node("a2", "s1", "r1"), Node("a3", "s2", "r1"),
             Node("a4", "s2", "r1"), Node("b1", "s3", "r2"), Node("b2", "s3", "r2"),
             Node("b3", "s3", "r2"), Node("b4", "s4", "r2")};
  for (NodeView& node : c.nodes) {
    if (node.labels["rack"] == "r2") node.free.cpu_milli = 2000;
  }
  const Profile profile = DefaultProfile();
  const GangPlacer p(profile.filters, profile.scorers);
  const auto nodes = p.Place(JobBuilder(1).Nodes(4).Build(), c);
  ASSERT_TRUE(nodes.has_value());
  std::set<std::string> racks;
  for (std::size_t i : *nodes) racks.insert(c.nodes[i].labels.at("rack"));
  EXPECT_EQ(racks, (std::set<std::string>{"r2"}));
}

TEST(TopologyTest, RackConstraintRefusesToSpanRacksAndWaits) {
  // Two racks of 4 nodes, one node busy in each: 6 free nodes, but no rack has 4.
  ClusterSnapshot c;
  for (int i = 1; i <= 8; ++i) {
    c.nodes.push_back(Node("n" + std::to_string(i), "s" + std::to_string(i), i <= 4 ? "r1" : "r2"));
  }
  AddRunning(c, 100, {"n1", "n5"}, {4000, 0, 0}, kNow + 600s);
  const Scheduler scheduler(DefaultProfile());

  const std::vector<PendingJob> constrained = {
      JobBuilder(1).Nodes(4).Topology("rack").TimeLimit(60s).Build()};
  const CycleResult r = scheduler.RunCycle(c, constrained, kNow);
  EXPECT_EQ(FindStart(r, 1), nullptr);
  EXPECT_EQ(ReasonOf(r, 1), "Resources");
  // It is reserved for when n1's rack (or n5's) is whole again, inside one rack.
  ASSERT_EQ(r.reservations.size(), 1u);
  EXPECT_EQ(r.reservations[0].start, kNow + 600s);
  EXPECT_EQ(r.reservations[0].nodes, (std::vector<std::string>{"n1", "n2", "n3", "n4"}));

  // The same gang without the constraint spans the racks now: the whole free part of one
  // rack, and one node of the other.
  const std::vector<PendingJob> free_gang = {JobBuilder(2).Nodes(4).TimeLimit(60s).Build()};
  const CycleResult spanned = scheduler.RunCycle(c, free_gang, kNow);
  const StartDecision* start = FindStart(spanned, 2);
  ASSERT_NE(start, nullptr);
  const std::multiset<std::string> racks = LabelsOf(c, *start, "rack");
  EXPECT_EQ(racks.count("r1"), 3u);
  EXPECT_EQ(racks.count("r2"), 1u);

  // Three nodes fit in one rack: they start there.
  const std::vector<PendingJob> small = {JobBuilder(3).Nodes(3).Topology("rack").Build()};
  const CycleResult packed = scheduler.RunCycle(c, small, kNow);
  const StartDecision* small_start = FindStart(packed, 3);
  ASSERT_NE(small_start, nullptr);
  EXPECT_EQ(LabelsOf(c, *small_start, "rack"), (std::multiset<std::string>{"r1", "r1", "r1"}));
}

// Enable once Scheduler's Shape includes PendingJob::topology (scheduler.cc): until then a
// constrained job that fails marks the unconstrained job of the same shape as failing too.
TEST(TopologyTest, ConstrainedAndUnconstrainedGangsOfOneShapeAreJudgedApart) {
  ClusterSnapshot c;
  for (int i = 1; i <= 4; ++i) {
    c.nodes.push_back(Node("n" + std::to_string(i), "s" + std::to_string(i), i <= 2 ? "r1" : "r2"));
  }
  const Scheduler scheduler(DefaultProfile());
  const std::vector<PendingJob> pending = {
      JobBuilder(1).Nodes(3).Topology("rack").Priority(10).Build(),
      JobBuilder(2).Nodes(3).Build()};
  const CycleResult r = scheduler.RunCycle(c, pending, kNow);
  EXPECT_EQ(FindStart(r, 1), nullptr);
  EXPECT_NE(FindStart(r, 2), nullptr);
}

TEST(TopologyTest, NodesWithoutTheLabelOnlyHostOneNodeGangs) {
  ClusterSnapshot c;
  c.nodes = {NodeBuilder("n1").Build(), NodeBuilder("n2").Build()};
  const Profile profile = DefaultProfile();
  const GangPlacer placer(profile.filters, profile.scorers);
  EXPECT_TRUE(placer.Place(JobBuilder(1).Topology("switch").Build(), c).has_value());
  EXPECT_FALSE(placer.Place(JobBuilder(2).Nodes(2).Topology("switch").Build(), c).has_value());
  // Without a constraint, unlabelled nodes are placed as before: best scores, node order.
  const auto both = placer.Place(JobBuilder(3).Nodes(2).Build(), c);
  ASSERT_TRUE(both.has_value());
  EXPECT_EQ(*both, (std::vector<std::size_t>{0, 1}));
}

TEST(TopologyTest, SubmitRefusesAConstraintNoGroupCanEverMeet) {
  ClusterSnapshot c;
  for (int i = 1; i <= 6; ++i) {
    c.nodes.push_back(Node("n" + std::to_string(i), "s1", i <= 4 ? "r1" : "r2"));
  }
  AddRunning(c, 100, {"n1", "n2", "n3", "n4"}, {4000, 0, 0}, std::nullopt);  // busy is fine
  const Profile profile = DefaultProfile();
  const GangPlacer placer(profile.filters, profile.scorers);

  EXPECT_TRUE(placer.CheckTopology(JobBuilder(1).Nodes(4).Topology("rack").Build(), c).ok());
  EXPECT_TRUE(placer.CheckTopology(JobBuilder(2).Nodes(6).Topology("switch").Build(), c).ok());
  EXPECT_TRUE(placer.CheckTopology(JobBuilder(3).Nodes(6).Build(), c).ok());
  const Verdict too_big = placer.CheckTopology(JobBuilder(4).Nodes(5).Topology("rack").Build(), c);
  EXPECT_EQ(too_big.code(), Verdict::Code::kUnresolvable);
  EXPECT_EQ(too_big.reason(),
            "topology: 5 nodes must share one rack, but no rack has more than 4 that could run "
            "this job");
  // Nodes the request can never fit on do not count.
  const Verdict no_zone = placer.CheckTopology(JobBuilder(5).Nodes(2).Topology("zone").Build(), c);
  EXPECT_EQ(no_zone.reason(),
            "topology: 2 nodes must share one zone, but no zone has more than 1 that could run "
            "this job");
  const Verdict too_wide =
      placer.CheckTopology(JobBuilder(6).Nodes(2).Cpus(8).Topology("rack").Build(), c);
  EXPECT_FALSE(too_wide.ok());
}

TEST(TopologyTest, GpuModelSelectsMatchingNodesOnly) {
  // Two models, interleaved in node order.
  ClusterSnapshot c;
  c.nodes = {NodeBuilder("a1").Gpus(8, "A100").Build(), NodeBuilder("h1").Gpus(8, "H100").Build(),
             NodeBuilder("a2").Gpus(8, "A100").Build(), NodeBuilder("h2").Gpus(8, "H100").Build()};
  const Scheduler scheduler(DefaultProfile());
  const std::vector<PendingJob> pending = {JobBuilder(1).Nodes(2).Gpus(8, "H100").Build(),
                                           JobBuilder(2).Gpus(8, "H100").Build(),
                                           JobBuilder(3).Nodes(2).Gpus(4, "A100").Build()};

  const CycleResult r = scheduler.RunCycle(c, pending, kNow);

  const StartDecision* h100 = FindStart(r, 1);
  ASSERT_NE(h100, nullptr);
  std::set<std::string> nodes;
  for (const auto& rank : h100->allocation.ranks) nodes.insert(rank.node);
  EXPECT_EQ(nodes, (std::set<std::string>{"h1", "h2"}));
  // No H100 node is left; the A100 nodes do not count for it.
  EXPECT_EQ(FindStart(r, 2), nullptr);
  const StartDecision* a100 = FindStart(r, 3);
  ASSERT_NE(a100, nullptr);
  nodes.clear();
  for (const auto& rank : a100->allocation.ranks) nodes.insert(rank.node);
  EXPECT_EQ(nodes, (std::set<std::string>{"a1", "a2"}));
  // A model no node has is refused at submit.
  EXPECT_FALSE(scheduler.CheckFeasible(JobBuilder(4).Gpus(8, "H200").Build(), c).ok());
}

TEST(TopologyTest, PlannerReservesWithinOneGroup) {
  // r1 = {n1, n2}, r2 = {n3, n4}, all full. Ends: n1 +100s, n2 +300s, n3 +200s, n4 +50s.
  ClusterSnapshot c;
  c.nodes = {Node("n1", "s1", "r1"), Node("n2", "s1", "r1"), Node("n3", "s2", "r2"),
             Node("n4", "s2", "r2")};
  AddRunning(c, 101, {"n1"}, {4000, 0, 0}, kNow + 100s);
  AddRunning(c, 102, {"n2"}, {4000, 0, 0}, kNow + 300s);
  AddRunning(c, 103, {"n3"}, {4000, 0, 0}, kNow + 200s);
  AddRunning(c, 104, {"n4"}, {4000, 0, 0}, kNow + 50s);
  const Planner planner(c, kNow);
  const std::vector<std::size_t> all = {0, 1, 2, 3};

  const auto anywhere = planner.EarliestStart(JobBuilder(1).Nodes(2).TimeLimit(60s).Build(), all);
  ASSERT_TRUE(anywhere.has_value());
  EXPECT_EQ(anywhere->start, kNow + 100s);
  EXPECT_EQ(anywhere->nodes, (std::vector<std::size_t>{0, 3}));

  const auto in_rack = planner.EarliestStart(
      JobBuilder(2).Nodes(2).TimeLimit(60s).Topology("rack").Build(), all);
  ASSERT_TRUE(in_rack.has_value());
  EXPECT_EQ(in_rack->start, kNow + 200s);
  EXPECT_EQ(in_rack->nodes, (std::vector<std::size_t>{2, 3}));

  // Only r1's nodes eligible, on one switch: both free at +300s.
  const std::vector<std::size_t> first_rack = {0, 1};
  const auto in_switch = planner.EarliestStart(
      JobBuilder(3).Nodes(2).TimeLimit(60s).Topology("switch").Build(), first_rack);
  ASSERT_TRUE(in_switch.has_value());
  EXPECT_EQ(in_switch->start, kNow + 300s);

  // No rack has 3 nodes: never.
  EXPECT_FALSE(planner
                   .EarliestStart(JobBuilder(4).Nodes(3).TimeLimit(60s).Topology("rack").Build(),
                                  all)
                   .has_value());

  // Through the cycle: the reservation is the in-rack one.
  const Scheduler scheduler(DefaultProfile());
  const std::vector<PendingJob> pending = {
      JobBuilder(5).Nodes(2).TimeLimit(60s).Topology("rack").Build()};
  const CycleResult r = scheduler.RunCycle(c, pending, kNow);
  ASSERT_EQ(r.reservations.size(), 1u);
  EXPECT_EQ(r.reservations[0].start, kNow + 200s);
  EXPECT_EQ(r.reservations[0].nodes, (std::vector<std::string>{"n3", "n4"}));
}

TEST(TopologyTest, PlacementIsDeterministic) {
  ClusterSnapshot c;
  for (int i = 0; i < 64; ++i) {
    c.nodes.push_back(Node("n" + std::to_string(100 + i), "s" + std::to_string(i % 8),
                           "r" + std::to_string(i % 3)));
  }
  std::vector<PendingJob> pending;
  for (int id = 1; id <= 40; ++id) {
    pending.push_back(JobBuilder(id).Nodes(1 + id % 7).Cpus(1 + id % 4).Build());
  }
  const Scheduler scheduler(DefaultProfile());
  const CycleResult a = scheduler.RunCycle(c, pending, kNow);
  const CycleResult b = scheduler.RunCycle(c, pending, kNow);
  ASSERT_EQ(a.starts.size(), b.starts.size());
  for (std::size_t i = 0; i < a.starts.size(); ++i) {
    ASSERT_EQ(a.starts[i].allocation.ranks.size(), b.starts[i].allocation.ranks.size());
    for (std::size_t k = 0; k < a.starts[i].allocation.ranks.size(); ++k) {
      EXPECT_EQ(a.starts[i].allocation.ranks[k].node, b.starts[i].allocation.ranks[k].node);
    }
  }
}

}  // namespace
}  // namespace weft::sched
