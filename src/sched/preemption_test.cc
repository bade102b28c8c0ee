// Preemption in the scheduling cycle: who may be preempted (only preemptible jobs, of lower
// own priority or borrowing the preemptor's lent quota), which victims (least lost work, none
// more than needed, gangs whole), and holds (the preemptor goes first until it starts).
#include "sched/preemption.h"

#include <gtest/gtest.h>

#include "sched/scheduler.h"
#include "testing/builders.h"
#include "testing/cycle_result.h"

namespace weft::sched {
namespace {

using namespace std::chrono_literals;
using testing::AddRunning;
using testing::FindStart;
using testing::JobBuilder;
using testing::NodeBuilder;
using testing::ReasonOf;

const TimePoint kNow = TimePoint{} + 10000s;
const model::Resources kGpus8{8000, 0, 8};

model::QueueConfig Queue(std::string name, std::int64_t gpus, std::string cohort) {
  model::QueueConfig q;
  q.name = std::move(name);
  q.quota.gpus = gpus;
  q.cohort = std::move(cohort);
  return q;
}

class PreemptionTest : public ::testing::Test {
 protected:
  void AddNodes(int count, int gpus = 8) {
    for (int i = 1; i <= count; ++i) {
      cluster_.nodes.push_back(NodeBuilder("n" + std::to_string(i)).Cpus(64).Gpus(gpus).Build());
    }
  }
  // A running job on `nodes` holding `per_node` on each, started `ran` ago.
  RunningAllocation& Run(model::JobId id, std::vector<std::string> nodes, model::Resources per_node,
                         Duration ran, bool preemptible, int priority = 0,
                         std::string queue = "default") {
    AddRunning(cluster_, id, nodes, per_node, std::nullopt);
    RunningAllocation& r = cluster_.running.back();
    r.preemptible = preemptible;
    r.priority = priority;
    r.start_time = kNow - ran;
    r.queue = queue;
    for (std::size_t i = 0; i < nodes.size(); ++i) cluster_.queue_usage[queue] += per_node;
    return r;
  }
  CycleResult Cycle(const std::vector<PendingJob>& pending) const {
    return Scheduler(DefaultProfile()).RunCycle(cluster_, pending, kNow);
  }
  static std::vector<PreemptDecision> Decisions(const CycleResult& r) { return r.preemptions; }

  ClusterSnapshot cluster_;
};

TEST_F(PreemptionTest, NeverPreemptsAJobNotMarkedPreemptible) {
  AddNodes(1);
  Run(1, {"n1"}, kGpus8, 60s, /*preemptible=*/false, /*priority=*/0);

  const CycleResult r = Cycle({JobBuilder(2).Gpus(8).Priority(1000).Build()});

  EXPECT_TRUE(r.preemptions.empty());
  EXPECT_EQ(ReasonOf(r, 2), "Resources");
}

TEST_F(PreemptionTest, HigherPriorityPreemptsAPreemptibleJobAndDoesNotStartYet) {
  AddNodes(1);
  Run(1, {"n1"}, kGpus8, 60s, /*preemptible=*/true, /*priority=*/0);

  const CycleResult r = Cycle({JobBuilder(2).Gpus(8).Priority(10).Build()});

  EXPECT_EQ(Decisions(r), (std::vector<PreemptDecision>{{2, {1}}}));
  EXPECT_EQ(FindStart(r, 2), nullptr);
  EXPECT_NE(ReasonOf(r, 2), "");
}

TEST_F(PreemptionTest, EqualOrLowerPriorityDoesNotPreempt) {
  AddNodes(1);
  Run(1, {"n1"}, kGpus8, 60s, /*preemptible=*/true, /*priority=*/10);

  EXPECT_TRUE(Cycle({JobBuilder(2).Gpus(8).Priority(10).Build()}).preemptions.empty());
  EXPECT_TRUE(Cycle({JobBuilder(2).Gpus(8).Priority(5).Build()}).preemptions.empty());
}

TEST_F(PreemptionTest, NoPreemptionWhenTheJobWouldNotFitEvenThen) {
  AddNodes(1);
  Run(1, {"n1"}, {1000, 0, 4}, 60s, /*preemptible=*/true);
  Run(2, {"n1"}, {1000, 0, 4}, 60s, /*preemptible=*/false);

  EXPECT_TRUE(Cycle({JobBuilder(3).Gpus(8).Priority(10).Build()}).preemptions.empty());
}

TEST_F(PreemptionTest, ChoosesTheVictimThatLosesTheLeastWork) {
  AddNodes(2);
  Run(1, {"n1"}, kGpus8, 100s, true);  // 800 GPU-seconds
  Run(2, {"n2"}, kGpus8, 10s, true);   // 80 GPU-seconds

  EXPECT_EQ(Decisions(Cycle({JobBuilder(3).Gpus(8).Priority(10).Build()})),
            (std::vector<PreemptDecision>{{3, {2}}}));
}

TEST_F(PreemptionTest, LostWorkCountsGpusAndFallsBackToCpus) {
  AddNodes(2);
  // Job 1: 2 GPUs for 100 s = 200 (its 60 CPUs do not count); job 2: no GPU, 8 CPUs for
  // 50 s = 400.
  Run(1, {"n1"}, {60000, 0, 2}, 100s, true);
  Run(2, {"n2"}, {8000, 0, 0}, 50s, true);

  EXPECT_DOUBLE_EQ(LostWork(cluster_.running[0], kNow), 200);
  EXPECT_DOUBLE_EQ(LostWork(cluster_.running[1], kNow), 400);
  // Either victim would do (64 CPUs per node): the cheaper one goes.
  EXPECT_EQ(Decisions(Cycle({JobBuilder(3).Cpus(60).Priority(10).Build()})),
            (std::vector<PreemptDecision>{{3, {1}}}));
}

TEST_F(PreemptionTest, TiesGoToTheNewestJob) {
  AddNodes(2);
  Run(1, {"n1"}, kGpus8, 10s, true);
  Run(2, {"n2"}, kGpus8, 10s, true);

  EXPECT_EQ(Decisions(Cycle({JobBuilder(3).Gpus(8).Priority(10).Build()})),
            (std::vector<PreemptDecision>{{3, {2}}}));
}

TEST_F(PreemptionTest, ReversePassDropsVictimsTheJobDoesNotNeed) {
  AddNodes(2);
  Run(1, {"n1"}, {1000, 0, 2}, 5s, true);    // 10: cheapest, but frees too little alone
  Run(2, {"n1"}, {1000, 0, 6}, 100s, true);  // 600
  Run(3, {"n2"}, kGpus8, 10s, true);         // 80: frees a whole node

  EXPECT_EQ(Decisions(Cycle({JobBuilder(4).Gpus(8).Priority(10).Build()})),
            (std::vector<PreemptDecision>{{4, {3}}}));
}

TEST_F(PreemptionTest, AGangVictimFreesEveryRank) {
  AddNodes(2);
  Run(1, {"n1", "n2"}, kGpus8, 10s, true);

  const CycleResult r = Cycle({JobBuilder(2).Nodes(2).Gpus(8).Priority(10).Build()});

  EXPECT_EQ(Decisions(r), (std::vector<PreemptDecision>{{2, {1}}}));
}

TEST_F(PreemptionTest, AVictimServesOnePreemptorAndStoppingJobsAreNotChosenAgain) {
  AddNodes(1);
  Run(1, {"n1"}, kGpus8, 10s, true);

  const CycleResult r = Cycle(
      {JobBuilder(2).Gpus(8).Priority(20).Build(), JobBuilder(3).Gpus(8).Priority(10).Build()});
  EXPECT_EQ(Decisions(r), (std::vector<PreemptDecision>{{2, {1}}}));

  cluster_.running[0].stopping = true;
  PendingJob waiting = JobBuilder(2).Gpus(8).Priority(20).Build();
  waiting.preemption_hold = waiting.victims_stopping = true;
  EXPECT_TRUE(Cycle({waiting, JobBuilder(3).Gpus(8).Priority(30).Build()}).preemptions.empty());
}

TEST_F(PreemptionTest, AHolderGoesFirstAndTakesWhatItsVictimsFreed) {
  AddNodes(1);
  PendingJob holder = JobBuilder(2).Gpus(8).Priority(1).Build();
  holder.preemption_hold = true;

  const CycleResult r = Cycle({JobBuilder(3).Gpus(8).Priority(50).Build(), holder});

  ASSERT_NE(FindStart(r, 2), nullptr);
  EXPECT_EQ(FindStart(r, 3), nullptr);
  EXPECT_TRUE(r.preemptions.empty());  // job 3 has nobody to preempt: 2 only just started
}

TEST_F(PreemptionTest, WhileVictimsStopAHolderIsReservedWhatTheyFreeAndNobodyPreemptsThemAgain) {
  AddNodes(1);
  RunningAllocation& victim = Run(1, {"n1"}, kGpus8, 10s, true);
  victim.stopping = true;
  victim.expected_end = kNow + 30s;  // the stop deadline
  PendingJob holder = JobBuilder(2).Gpus(8).Priority(1).TimeLimit(1h).Build();
  holder.preemption_hold = holder.victims_stopping = true;

  const CycleResult r = Cycle({holder, JobBuilder(3).Gpus(8).Priority(50).TimeLimit(1h).Build()});

  ASSERT_FALSE(r.reservations.empty());
  EXPECT_EQ(r.reservations.front().job_id, 2);  // in front of the higher-priority job 3
  EXPECT_EQ(r.reservations.front().start, kNow + 30s);
  EXPECT_EQ(FindStart(r, 3), nullptr);
  EXPECT_TRUE(r.preemptions.empty());  // job 3 outranks the victim, but it is stopping
}

class ReclaimTest : public PreemptionTest {
 protected:
  ReclaimTest() {
    AddNodes(2);
    cluster_.queues = {Queue("a", 8, "research"), Queue("b", 8, "research")};
  }
};

TEST_F(ReclaimTest, LenderReclaimsFromAPreemptibleBorrowerWhateverItsPriority) {
  Run(1, {"n1"}, kGpus8, 100s, /*preemptible=*/false, /*priority=*/100, "b");  // b's nominal
  Run(2, {"n2"}, kGpus8, 10s, /*preemptible=*/true, /*priority=*/100, "b");    // borrowed

  const CycleResult r = Cycle({JobBuilder(3).Gpus(8).Priority(0).Queue("a").Build()});

  EXPECT_EQ(Decisions(r), (std::vector<PreemptDecision>{{3, {2}}}));
}

TEST_F(ReclaimTest, NonPreemptibleBorrowerKeepsRunningAndTheLenderWaits) {
  Run(1, {"n1"}, kGpus8, 100s, false, 100, "b");
  Run(2, {"n2"}, kGpus8, 10s, false, 100, "b");

  const CycleResult r = Cycle({JobBuilder(3).Gpus(8).Priority(0).Queue("a").Build()});

  EXPECT_TRUE(r.preemptions.empty());
  EXPECT_EQ(ReasonOf(r, 3), "Resources");
}

TEST_F(ReclaimTest, OnlyQuotaWithinTheLendersNominalIsReclaimed) {
  Run(1, {"n1"}, kGpus8, 100s, true, 100, "a");  // a at its nominal quota already
  Run(2, {"n2"}, kGpus8, 10s, true, 100, "b");   // b within its own nominal quota

  // Another 8 GPUs would put a over its nominal quota: nothing to reclaim, and the priority
  // is lower than both running jobs'.
  EXPECT_TRUE(Cycle({JobBuilder(3).Gpus(8).Priority(0).Queue("a").Build()}).preemptions.empty());
}

TEST_F(ReclaimTest, AJobOfTheSameQueueIsNotReclaimed) {
  cluster_.queues = {Queue("a", 16, "research"), Queue("b", 0, "research")};
  Run(1, {"n1"}, kGpus8, 10s, true, 100, "a");
  Run(2, {"n2"}, kGpus8, 10s, true, 100, "a");

  EXPECT_TRUE(Cycle({JobBuilder(3).Gpus(8).Priority(0).Queue("a").Build()}).preemptions.empty());
}

TEST_F(PreemptionTest, AHolderIsAdmittedAsIfItsVictimsHadStopped) {
  // Queue a is full with the victim it is stopping: the holder's quota must not count it,
  // or the holder would wait as QuotaExceeded without a reservation meanwhile.
  AddNodes(1);
  cluster_.queues = {Queue("a", 8, "")};
  RunningAllocation& victim = Run(1, {"n1"}, kGpus8, 10s, true, 0, "a");
  victim.stopping = true;
  victim.expected_end = kNow + 5s;
  PendingJob holder = JobBuilder(2).Gpus(8).Priority(10).Queue("a").TimeLimit(1h).Build();
  PendingJob other = JobBuilder(3).Gpus(8).Priority(10).Queue("a").TimeLimit(1h).Build();
  holder.preemption_hold = holder.victims_stopping = true;

  const CycleResult r = Cycle({holder, other});

  EXPECT_EQ(ReasonOf(r, 2), "Resources");  // waits for its victim only
  ASSERT_FALSE(r.reservations.empty());
  EXPECT_EQ(r.reservations.front().job_id, 2);
  EXPECT_EQ(ReasonOf(r, 3), "QuotaExceeded");
}

TEST_F(PreemptionTest, SameInputSameDecisions) {
  AddNodes(3);
  Run(1, {"n1"}, {1000, 0, 4}, 30s, true);
  Run(2, {"n1"}, {1000, 0, 4}, 30s, true);
  Run(3, {"n2", "n3"}, kGpus8, 20s, true);
  const std::vector<PendingJob> pending = {JobBuilder(4).Gpus(8).Priority(5).Build(),
                                           JobBuilder(5).Gpus(8).Priority(9).Build()};

  const CycleResult first = Cycle(pending);
  EXPECT_EQ(Decisions(first), Decisions(Cycle(pending)));
  EXPECT_EQ(Decisions(first), (std::vector<PreemptDecision>{{5, {2, 1}}, {4, {3}}}));
}

}  // namespace
}  // namespace weft::sched
