// Backfill with reservations: EASY (depth 1), conservative (large depth), strict order (0).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "sched/planner.h"
#include "sched/scheduler.h"
#include "testing/builders.h"
#include "testing/cycle_result.h"

namespace weft::sched {
namespace {

bool IsStarted(const CycleResult& r, model::JobId id) { return testing::FindStart(r, id) != nullptr; }

using namespace std::chrono_literals;
using testing::AddRunning;
using testing::JobBuilder;
using testing::FindReservation;
using testing::FindStart;
using testing::ReasonOf;
using testing::NodeBuilder;

const TimePoint kNow = TimePoint{} + 1000s;

Scheduler WithDepth(int depth) {
  Profile profile = DefaultProfile();
  profile.reservation_depth = depth;
  return Scheduler(std::move(profile));
}

ClusterSnapshot Nodes(const std::vector<std::string>& names, const std::string& pool = "default") {
  ClusterSnapshot c;
  for (const std::string& name : names) c.nodes.push_back(NodeBuilder(name).Cpus(4).Pool(pool).Build());
  return c;
}

// Node a runs a 4-cpu job until now+30s, b is free. Queue: a 2-node job, then 1-node jobs.
ClusterSnapshot HalfBusy() {
  ClusterSnapshot c = Nodes({"a", "b"});
  AddRunning(c, 10, {"a"}, {4000, 0, 0}, kNow + 30s);
  return c;
}
std::vector<PendingJob> BigThenSmall() {
  return {JobBuilder(1).Nodes(2).Cpus(4).TimeLimit(100s).Build(),
          JobBuilder(2).Cpus(4).TimeLimit(60s).Build(),   // would end after a's job: delays 1
          JobBuilder(3).Cpus(4).TimeLimit(30s).Build()};  // ends when the reservation starts
}

TEST(BackfillTest, EasyBackfillsAShortJobButNotALongOne) {
  const CycleResult r = WithDepth(1).RunCycle(HalfBusy(), BigThenSmall(), kNow);

  const Reservation* res = FindReservation(r, 1);
  ASSERT_NE(res, nullptr);
  EXPECT_EQ(res->start, kNow + 30s);  // the running job's expected end
  EXPECT_EQ(res->nodes, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ReasonOf(r, 1), "Resources");
  EXPECT_FALSE(IsStarted(r, 2));
  EXPECT_EQ(ReasonOf(r, 2), "Priority");  // b is free, but held for job 1
  EXPECT_TRUE(IsStarted(r, 3));
  EXPECT_EQ(r.reservations.size(), 1u);
}

TEST(BackfillTest, JobWithoutTimeLimitDoesNotBackfillInFrontOfAReservation) {
  std::vector<PendingJob> pending = BigThenSmall();
  pending[2].time_limit.reset();

  const CycleResult r = WithDepth(1).RunCycle(HalfBusy(), pending, kNow);

  EXPECT_NE(FindReservation(r, 1), nullptr);
  EXPECT_TRUE(r.starts.empty());
}

TEST(BackfillTest, DepthZeroIsStrictPriorityOrder) {
  const CycleResult r = WithDepth(0).RunCycle(HalfBusy(), BigThenSmall(), kNow);

  EXPECT_TRUE(r.starts.empty());
  EXPECT_TRUE(r.reservations.empty());
  EXPECT_EQ(ReasonOf(r, 1), "Resources");
  EXPECT_EQ(ReasonOf(r, 3), "Priority");
}

TEST(BackfillTest, ConservativeProtectsTheSecondBlockedJobToo) {
  // Pool x: a busy until +30s, b free. Pool y: c busy until +30s, d free.
  ClusterSnapshot c = Nodes({"a", "b"}, "x");
  for (const char* n : {"c", "d"}) c.nodes.push_back(NodeBuilder(n).Cpus(4).Pool("y").Build());
  AddRunning(c, 10, {"a"}, {4000, 0, 0}, kNow + 30s);
  AddRunning(c, 11, {"c"}, {4000, 0, 0}, kNow + 30s);
  const std::vector<PendingJob> pending = {
      JobBuilder(1).Nodes(2).Cpus(4).Pools({"x"}).TimeLimit(50s).Build(),
      JobBuilder(2).Nodes(2).Cpus(4).Pools({"y"}).TimeLimit(50s).Build(),
      JobBuilder(3).Cpus(4).TimeLimit(100s).Build(),  // fits on b or d now, ends late
      JobBuilder(4).Cpus(4).TimeLimit(10s).Build(),   // ends before both reservations
  };

  const CycleResult easy = WithDepth(1).RunCycle(c, pending, kNow);
  const CycleResult conservative = WithDepth(100).RunCycle(c, pending, kNow);

  EXPECT_EQ(easy.reservations.size(), 1u);
  EXPECT_TRUE(IsStarted(easy, 3));  // on d: job 2 had no reservation and is delayed
  ASSERT_EQ(conservative.reservations.size(), 3u);  // job 3 too
  EXPECT_EQ(FindReservation(conservative, 3)->start, kNow + 80s);  // after both
  EXPECT_EQ(FindReservation(conservative, 2)->start, kNow + 30s);
  EXPECT_FALSE(IsStarted(conservative, 3));
  EXPECT_EQ(ReasonOf(conservative, 3), "Priority");
  EXPECT_TRUE(IsStarted(conservative, 4));
}

TEST(BackfillTest, GangReservationIsWholeAtTheEarliestEndThatFreesEnoughNodes) {
  ClusterSnapshot c = Nodes({"a", "b", "c"});
  AddRunning(c, 10, {"a"}, {4000, 0, 0}, kNow + 30s);
  AddRunning(c, 11, {"b"}, {4000, 0, 0}, kNow + 10s);
  AddRunning(c, 12, {"c"}, {4000, 0, 0}, kNow + 20s);
  const std::vector<PendingJob> pending = {JobBuilder(1).Nodes(2).Cpus(2).TimeLimit(5s).Build()};

  const CycleResult r = WithDepth(1).RunCycle(c, pending, kNow);

  ASSERT_EQ(r.reservations.size(), 1u);
  EXPECT_EQ(r.reservations[0].start, kNow + 20s);
  EXPECT_EQ(r.reservations[0].nodes, (std::vector<std::string>{"b", "c"}));
}

TEST(BackfillTest, BlockedJobDoesNotHoldBackJobsOnOtherNodes) {
  ClusterSnapshot c = Nodes({"a", "b"}, "x");
  c.nodes.push_back(NodeBuilder("c").Cpus(4).Pool("y").Build());
  AddRunning(c, 10, {"a"}, {4000, 0, 0}, kNow + 30s);
  const std::vector<PendingJob> pending = {
      JobBuilder(1).Nodes(2).Cpus(4).Pools({"x"}).TimeLimit(50s).Build(),
      JobBuilder(2).Cpus(4).Build(),  // no limit: only c, which job 1 cannot use
  };

  const CycleResult r = WithDepth(1).RunCycle(c, pending, kNow);

  EXPECT_NE(FindReservation(r, 1), nullptr);
  ASSERT_TRUE(IsStarted(r, 2));
  EXPECT_EQ(r.starts[0].allocation.ranks[0].node, "c");
}

// Property: on a simulated clock where every job runs exactly its time limit, the top blocked
// job (the first reservation of a cycle: EASY's only one) starts no later than the first
// start it was promised (nothing that backfilled delayed it), and no node or GPU slot is ever
// over-allocated. Lower reservations of a conservative plan are recomputed every cycle (as
// in Flux) and may move when a higher one moves earlier onto other nodes.
void RunSimulation(int depth, std::uint32_t seed) {
  std::mt19937 rng(seed);
  const Scheduler scheduler = WithDepth(depth);
  ClusterSnapshot base;
  const int node_count = 3 + static_cast<int>(rng() % 4);
  for (int i = 0; i < node_count; ++i) base.nodes.push_back(NodeBuilder("n" + std::to_string(i)).Cpus(8).Gpus(4).Build());
  std::map<model::JobId, PendingJob> pending;
  for (int id = 1; id <= 40; ++id) {
    pending[id] = JobBuilder(id)
                      .Nodes(1 + static_cast<int>(rng() % std::min(3, node_count)))
                      .Cpus(1 + static_cast<int>(rng() % 8))
                      .Gpus(static_cast<int>(rng() % 5))
                      .Priority(static_cast<int>(rng() % 3))
                      .TimeLimit(std::chrono::seconds(1 + rng() % 100))
                      .Build();
  }
  struct Run {
    model::Allocation allocation;
    TimePoint end;
  };
  std::map<model::JobId, Run> running;
  std::map<model::JobId, TimePoint> promised;  // first reservation start
  TimePoint now = kNow;
  for (int cycle = 0; cycle < 1000 && !pending.empty(); ++cycle) {
    ClusterSnapshot snapshot = base;
    for (const auto& [id, run] : running) {
      RunningAllocation ra{id, run.allocation.ranks, run.end};
      for (const auto& rank : run.allocation.ranks) {
        for (NodeView& node : snapshot.nodes) {
          if (node.name != rank.node) continue;
          node.free -= rank.resources;
          node.idle = false;
          for (int g : rank.gpu_ids) {
            ASSERT_TRUE(node.gpu_free[g]) << "GPU slot handed out twice";
            node.gpu_free[g] = false;
          }
          ASSERT_GE(node.free.cpu_milli, 0);
          ASSERT_GE(node.free.gpus, 0);
        }
      }
      snapshot.running.push_back(std::move(ra));
    }
    std::vector<PendingJob> queue;
    for (const auto& [id, job] : pending) queue.push_back(job);
    const CycleResult r = scheduler.RunCycle(snapshot, queue, now);
    for (const Reservation& res : r.reservations) {
      ASSERT_GE(res.start, now);
      ASSERT_EQ(res.nodes.size(), static_cast<std::size_t>(pending.at(res.job_id).num_nodes));
      ASSERT_EQ(std::set<std::string>(res.nodes.begin(), res.nodes.end()).size(), res.nodes.size());
    }
    if (!r.reservations.empty()) promised.try_emplace(r.reservations[0].job_id, r.reservations[0].start);
    for (const StartDecision& s : r.starts) {
      if (auto p = promised.find(s.job_id); p != promised.end()) {
        ASSERT_LE(now, p->second) << "job " << s.job_id << " started after its reservation";
      }
      running[s.job_id] = {s.allocation, now + *pending.at(s.job_id).time_limit};
      pending.erase(s.job_id);
    }
    // Every job the plan promised a start to by now has started.
    for (const auto& [id, at] : promised) {
      ASSERT_FALSE(pending.count(id) && at <= now) << "job " << id << " missed its reservation";
    }
    ASSERT_FALSE(running.empty()) << "nothing runs and nothing starts";
    TimePoint next = kNever;
    for (const auto& [id, run] : running) next = std::min(next, run.end);
    now = next;
    std::erase_if(running, [&](const auto& entry) { return entry.second.end <= now; });
  }
  ASSERT_TRUE(pending.empty());
}

TEST(BackfillTest, PropertyEasyReservationIsNeverDelayedAndNothingIsOverAllocated) {
  for (std::uint32_t seed = 1; seed <= 100; ++seed) {
    SCOPED_TRACE(seed);
    RunSimulation(1, seed);
    if (HasFatalFailure()) return;
  }
}

TEST(BackfillTest, PropertyConservativeTopReservationIsNeverDelayed) {
  for (std::uint32_t seed = 1; seed <= 50; ++seed) {
    SCOPED_TRACE(seed);
    RunSimulation(1000, seed);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace weft::sched
