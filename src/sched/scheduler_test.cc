#include "sched/scheduler.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "testing/builders.h"
#include "testing/cycle_result.h"

namespace weft::sched {
namespace {

using testing::JobBuilder;
using testing::FindStart;
using testing::ReasonOf;
using testing::NodeBuilder;

ClusterSnapshot Cluster(int nodes, int cpus, int gpus) {
  ClusterSnapshot c;
  for (int i = 1; i <= nodes; ++i) {
    c.nodes.push_back(NodeBuilder("n" + std::to_string(i)).Cpus(cpus).Gpus(gpus).Build());
  }
  return c;
}

TEST(SchedulerTest, GangJobGetsDistinctNodesOrNothing) {
  const Scheduler scheduler(DefaultProfile());
  const std::vector<PendingJob> pending = {JobBuilder(1).Nodes(3).Cpus(2).Build()};

  const CycleResult r = scheduler.RunCycle(Cluster(3, 4, 0), pending, TimePoint{});

  ASSERT_EQ(r.starts.size(), 1u);
  std::set<std::string> nodes;
  for (const auto& rank : r.starts[0].allocation.ranks) nodes.insert(rank.node);
  EXPECT_EQ(nodes.size(), 3u);
}

TEST(SchedulerTest, TooLargeGangStaysPendingAndDoesNotBlockSmallerLaterJobs) {
  const Scheduler scheduler(DefaultProfile());
  const std::vector<PendingJob> pending = {
      JobBuilder(1).Nodes(4).Build(),
      JobBuilder(2).Nodes(1).Build(),
      JobBuilder(3).Nodes(1).Build(),
  };

  const CycleResult r = scheduler.RunCycle(Cluster(3, 4, 0), pending, TimePoint{});

  EXPECT_EQ(FindStart(r, 1), nullptr);
  EXPECT_EQ(ReasonOf(r, 1), "Resources");
  EXPECT_NE(FindStart(r, 2), nullptr);
  EXPECT_NE(FindStart(r, 3), nullptr);
}

TEST(SchedulerTest, HigherPriorityFirstThenSubmitOrderAndReasonPriority) {
  const Scheduler scheduler(DefaultProfile());
  const TimePoint t0{};
  const std::vector<PendingJob> pending = {
      JobBuilder(1).Cpus(4).SubmittedAt(t0).Build(),
      JobBuilder(2).Cpus(4).SubmittedAt(t0 + std::chrono::seconds(1)).Priority(10).Build(),
      JobBuilder(3).Cpus(4).SubmittedAt(t0 + std::chrono::seconds(2)).Build(),
  };

  const CycleResult r = scheduler.RunCycle(Cluster(1, 4, 0), pending, t0);

  ASSERT_EQ(r.starts.size(), 1u);
  EXPECT_EQ(r.starts[0].job_id, 2);
  EXPECT_EQ(ReasonOf(r, 1), "Priority");
  EXPECT_EQ(ReasonOf(r, 3), "Priority");
}

TEST(SchedulerTest, GpuSlotsAreExclusiveAndLowestFirst) {
  const Scheduler scheduler(DefaultProfile());
  const std::vector<PendingJob> pending = {JobBuilder(1).Gpus(2).Build(),
                                           JobBuilder(2).Gpus(2).Build(),
                                           JobBuilder(3).Gpus(1).Build()};

  const CycleResult r = scheduler.RunCycle(Cluster(1, 8, 4), pending, TimePoint{});

  ASSERT_EQ(r.starts.size(), 2u);
  EXPECT_EQ(r.starts[0].allocation.ranks[0].gpu_ids, (std::vector<int>{0, 1}));
  EXPECT_EQ(r.starts[1].allocation.ranks[0].gpu_ids, (std::vector<int>{2, 3}));
  EXPECT_EQ(ReasonOf(r, 3), "Priority");
}

TEST(SchedulerTest, HeldResourcesAreNeverHandedOut) {
  const Scheduler scheduler(DefaultProfile());
  ClusterSnapshot cluster = Cluster(1, 4, 2);
  cluster.nodes[0].free = {1000, 32LL << 30, 1};
  cluster.nodes[0].gpu_free = {false, true};
  cluster.nodes[0].idle = false;
  const std::vector<PendingJob> pending = {JobBuilder(1).Cpus(2).Build(),
                                           JobBuilder(2).Gpus(1).Build()};

  const CycleResult r = scheduler.RunCycle(cluster, pending, TimePoint{});

  EXPECT_EQ(ReasonOf(r, 1), "Resources");
  ASSERT_NE(FindStart(r, 2), nullptr);
  EXPECT_EQ(FindStart(r, 2)->allocation.ranks[0].gpu_ids, (std::vector<int>{1}));
}

TEST(SchedulerTest, ExclusiveJobTakesWholeIdleNode) {
  const Scheduler scheduler(DefaultProfile());
  const std::vector<PendingJob> pending = {JobBuilder(1).Exclusive().Build(),
                                           JobBuilder(2).Build()};

  const CycleResult r = scheduler.RunCycle(Cluster(1, 4, 2), pending, TimePoint{});

  ASSERT_NE(FindStart(r, 1), nullptr);
  EXPECT_EQ(FindStart(r, 1)->allocation.ranks[0].resources.gpus, 2);
  EXPECT_EQ(ReasonOf(r, 2), "Priority");
}

// Replicas of a service with a fixed port: never two on one node (as Kubernetes' hostPort),
// whether the other holds it already or starts in the same cycle; other ports and jobs pass.
TEST(SchedulerTest, AFixedPortKeepsJobsOffANodeWhereItIsTaken) {
  const Scheduler scheduler(DefaultProfile());
  auto with_port = [](model::JobId id, int port) {
    PendingJob job = JobBuilder(id).Cpus(1).Build();
    job.host_port = port;
    return job;
  };
  ClusterSnapshot one = Cluster(1, 8, 0);
  one.nodes[0].host_ports = {8000};
  const std::vector<PendingJob> two_ports = {with_port(1, 8000), with_port(2, 9000)};
  const CycleResult taken = scheduler.RunCycle(one, two_ports, TimePoint{});
  EXPECT_EQ(FindStart(taken, 1), nullptr);
  EXPECT_NE(ReasonOf(taken, 1), "None");
  EXPECT_NE(FindStart(taken, 2), nullptr) << ReasonOf(taken, 2) << " / " << ReasonOf(taken, 1);

  const std::vector<PendingJob> one_port = {with_port(1, 8000), with_port(2, 8000), with_port(3, 8000)};
  const CycleResult same_cycle = scheduler.RunCycle(Cluster(2, 8, 0), one_port, TimePoint{});
  ASSERT_NE(FindStart(same_cycle, 1), nullptr);
  ASSERT_NE(FindStart(same_cycle, 2), nullptr);
  EXPECT_NE(FindStart(same_cycle, 1)->allocation.ranks[0].node, FindStart(same_cycle, 2)->allocation.ranks[0].node);
  EXPECT_EQ(FindStart(same_cycle, 3), nullptr);  // both nodes hold 8000 now
}

TEST(SchedulerTest, DownNodesAndOtherPoolsAreSkipped) {
  const Scheduler scheduler(DefaultProfile());
  ClusterSnapshot cluster;
  cluster.nodes.push_back(NodeBuilder("a").Down().Build());
  cluster.nodes.push_back(NodeBuilder("b").Pool("other").Build());
  cluster.nodes.push_back(NodeBuilder("c").Build());
  const std::vector<PendingJob> pending = {JobBuilder(1).Build(),
                                           JobBuilder(2).Pools({"other"}).Build(),
                                           JobBuilder(3).Pools({"nowhere"}).Build()};

  const CycleResult r = scheduler.RunCycle(cluster, pending, TimePoint{});

  EXPECT_EQ(FindStart(r, 3), nullptr);
  ASSERT_NE(FindStart(r, 1), nullptr);
  EXPECT_NE(FindStart(r, 1)->allocation.ranks[0].node, "a");  // no pools named: any pool
  EXPECT_EQ(FindStart(r, 2)->allocation.ranks[0].node, "b");
}

TEST(SchedulerTest, FeasibilityNamesTheFieldThatCanNeverFit) {
  const Scheduler scheduler(DefaultProfile());

  const Verdict too_many_gpus = scheduler.CheckFeasible(JobBuilder(1).Gpus(9).Build(),
                                                        Cluster(2, 4, 8));
  const Verdict wrong_model = scheduler.CheckFeasible(JobBuilder(1).Gpus(1, "H100").Build(),
                                                      Cluster(2, 4, 8));
  const Verdict ok_when_busy = scheduler.CheckFeasible(JobBuilder(1).Nodes(5).Build(),
                                                       Cluster(2, 4, 8));

  EXPECT_EQ(too_many_gpus.code(), Verdict::Code::kUnresolvable);
  EXPECT_EQ(too_many_gpus.reason(), "gpus: 9 per node requested but the largest node has 8");
  EXPECT_EQ(wrong_model.code(), Verdict::Code::kUnresolvable);
  EXPECT_NE(wrong_model.reason().find("H100"), std::string::npos);
  EXPECT_TRUE(ok_when_busy.ok());  // more nodes than exist: waits, like Slurm
}

// Property: whatever the workload, no node is over-allocated, no GPU slot is handed out
// twice, and every gang is whole on distinct nodes.
TEST(SchedulerTest, PropertyNoOverAllocationAndWholeGangs) {
  const Scheduler scheduler(DefaultProfile());
  std::mt19937 rng(42);
  for (int round = 0; round < 200; ++round) {
    ClusterSnapshot cluster = Cluster(6, 8, 4);
    std::vector<PendingJob> pending;
    for (int id = 1; id <= 30; ++id) {
      pending.push_back(JobBuilder(id)
                            .Nodes(1 + rng() % 4)
                            .Cpus(1 + rng() % 6)
                            .Gpus(rng() % 5)
                            .Priority(rng() % 3)
                            .Build());
    }

    const CycleResult r = scheduler.RunCycle(cluster, pending, TimePoint{});

    std::map<std::string, model::Resources> used;
    std::set<std::pair<std::string, int>> slots;
    for (const auto& start : r.starts) {
      const PendingJob& job = pending[start.job_id - 1];
      ASSERT_EQ(start.allocation.ranks.size(), static_cast<size_t>(job.num_nodes));
      std::set<std::string> distinct;
      for (const auto& rank : start.allocation.ranks) {
        distinct.insert(rank.node);
        used[rank.node] += rank.resources;
        ASSERT_EQ(rank.gpu_ids.size(), static_cast<size_t>(rank.resources.gpus));
        for (int g : rank.gpu_ids) ASSERT_TRUE(slots.insert({rank.node, g}).second);
      }
      ASSERT_EQ(distinct.size(), static_cast<size_t>(job.num_nodes));
    }
    for (const auto& [node, res] : used) {
      ASSERT_TRUE(res.FitsIn(cluster.nodes[0].capacity)) << node;
    }
    ASSERT_EQ(r.starts.size() + r.still_pending.size(), pending.size());
  }
}

TEST(SchedulerTest, SameInputsSameDecisions) {
  const Scheduler scheduler(DefaultProfile());
  std::vector<PendingJob> pending;
  for (int id = 1; id <= 20; ++id) pending.push_back(JobBuilder(id).Nodes(1 + id % 3).Cpus(1 + id % 4).Build());

  const CycleResult a = scheduler.RunCycle(Cluster(4, 8, 0), pending, TimePoint{});
  const CycleResult b = scheduler.RunCycle(Cluster(4, 8, 0), pending, TimePoint{});

  ASSERT_EQ(a.starts.size(), b.starts.size());
  for (size_t i = 0; i < a.starts.size(); ++i) {
    EXPECT_EQ(a.starts[i].job_id, b.starts[i].job_id);
    for (size_t r = 0; r < a.starts[i].allocation.ranks.size(); ++r) {
      EXPECT_EQ(a.starts[i].allocation.ranks[r].node, b.starts[i].allocation.ranks[r].node);
    }
  }
}

}  // namespace
}  // namespace weft::sched
