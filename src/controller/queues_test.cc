// Queues in the controller: unknown queues are refused, default time limits apply, quotas
// hold jobs back with reason QuotaExceeded, and `weft queues` figures add up.
#include <gtest/gtest.h>

#include "common/simulated_event_loop.h"
#include "controller/controller.h"
#include "spec/cluster_config.h"
#include "store/in_memory_kv_store.h"

namespace weft::controller {
namespace {

using namespace std::chrono_literals;

class QueuesTest : public ::testing::Test {
 protected:
  QueuesTest() : loop_(TimePoint{} + 1000s), persister_(store_, loop_) {
    auto config = spec::ParseClusterConfig(R"(
queues:
  - name: team-a
    quota: {gpus: 2}
    cohort: research
    borrow_limit: {gpus: 1}
    default_time: 4h
  - name: team-b
    quota: {gpus: 2}
    cohort: research
  - name: solo
    quota: {gpus: 1}
)");
    EXPECT_TRUE(config.has_value());
    options_.config = *config;
    // Fair-share tests jump hours ahead without agents heartbeating in between.
    options_.detect_node_failures = false;
    controller_ = std::make_unique<Controller>(loop_, persister_, options_);
    model::NodeReport node;
    node.name = "n1";
    node.capacity = {64000, 64LL << 30, 8};
    controller_->ReportNode(node, [](Result<std::int64_t>) {});
    Drain();
  }

  void Drain() { loop_.RunUntil(loop_.clock().Now()); }

  Result<model::Job> Submit(const std::string& queue, int gpus, int cpus = 1) {
    model::JobSpec s;
    s.queue = queue;
    s.per_node = {cpus * 1000LL, 0, gpus};
    s.script = "#!/bin/sh\ntrue\n";
    s.submit_dir = s.work_dir = "/tmp";
    std::optional<Result<model::Job>> out;
    controller_->Submit(s, [&](Result<model::Job> r) { out = std::move(r); });
    Drain();
    return *out;
  }

  const model::Job& Job(const Result<model::Job>& j) { return *controller_->FindJob(j->id); }

  // Ends the job running on n1 (the node runs one task at a time in these tests).
  void FinishRunningTask() {
    const auto task = controller_->AssignmentsFor("n1").tasks.at(0);
    model::NodeReport report;
    report.name = "n1";
    report.capacity = {64000, 64LL << 30, 8};
    model::TaskReport exit;
    exit.key = task.key;
    exit.phase = model::TaskPhase::kExited;
    exit.exit = model::TaskExit{};
    report.tasks = {exit};
    controller_->ReportNode(report, [](Result<std::int64_t>) {});
    Drain();
  }

  double DecayedUsage(const std::string& queue) const {
    for (const QueueStatus& q : controller_->ListQueues()) {
      if (q.config.name == queue) return q.decayed_usage;
    }
    return -1;
  }

  ControllerOptions options_;
  SimulatedEventLoop loop_;
  store::InMemoryKvStore store_;
  DirectPersister persister_;
  std::unique_ptr<Controller> controller_;
};

TEST_F(QueuesTest, UnknownQueueIsRefusedNamingTheKnownOnes) {
  auto job = Submit("team-z", 0);

  ASSERT_FALSE(job.has_value());
  EXPECT_EQ(job.error().message, "queue: unknown queue 'team-z' (known: team-a, team-b, solo)");
}

TEST_F(QueuesTest, DefaultTimeLimitAppliesToJobsWithoutOne) {
  auto job = Submit("team-a", 0);

  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(Job(job).spec.time_limit, std::chrono::hours(4));
}

TEST_F(QueuesTest, QuotaHoldsJobsBackAndBorrowingStopsAtTheLimit) {
  auto a1 = Submit("team-a", 2);  // nominal
  auto a2 = Submit("team-a", 1);  // borrowed from team-b's idle quota
  auto a3 = Submit("team-a", 1);  // past the borrow limit
  auto s1 = Submit("solo", 1);
  auto s2 = Submit("solo", 1);    // no cohort: nothing to borrow
  Drain();

  EXPECT_EQ(Job(a1).state, model::JobState::kRunning);
  EXPECT_EQ(Job(a2).state, model::JobState::kRunning);
  EXPECT_EQ(Job(a3).state, model::JobState::kPending);
  EXPECT_EQ(Job(a3).reason, "QuotaExceeded");
  EXPECT_EQ(Job(s1).state, model::JobState::kRunning);
  EXPECT_EQ(Job(s2).reason, "QuotaExceeded");

  std::map<std::string, QueueStatus> queues;
  for (auto& q : controller_->ListQueues()) queues[q.config.name] = q;
  EXPECT_EQ(queues["team-a"].usage.gpus, 3);
  EXPECT_EQ(queues["team-a"].borrowed.gpus, 1);
  EXPECT_EQ(queues["team-a"].pending_jobs, 1);
  EXPECT_EQ(queues["team-a"].pending_demand.gpus, 1);
  EXPECT_EQ(queues["team-b"].usage.gpus, 0);
  EXPECT_EQ(queues["solo"].running_jobs, 1);
}

TEST_F(QueuesTest, FairShareLetsTheQueueThatUsedLessGoFirst) {
  // team-a holds the whole node for an hour; then a job of each queue waits for the node,
  // team-a's submitted first.
  auto hog = Submit("team-a", 0, 64);
  ASSERT_EQ(Job(hog).state, model::JobState::kRunning);
  loop_.RunUntil(loop_.clock().Now() + std::chrono::hours(1));
  auto a_job = Submit("team-a", 0, 64);
  loop_.RunUntil(loop_.clock().Now() + std::chrono::seconds(10));
  auto b_job = Submit("team-b", 0, 64);

  FinishRunningTask();

  EXPECT_EQ(Job(b_job).state, model::JobState::kRunning);
  EXPECT_EQ(Job(a_job).state, model::JobState::kPending);
  EXPECT_EQ(Job(a_job).reason, "Priority");
  const auto a_priority = controller_->PriorityOf(Job(a_job));
  EXPECT_LT(a_priority.fair_share, 0.5);
  EXPECT_GT(a_priority.age, 0.0);
  std::map<std::string, QueueStatus> queues;
  for (auto& q : controller_->ListQueues()) queues[q.config.name] = q;
  EXPECT_GT(queues["team-a"].decayed_usage, 0.0);
}

// Fair-share history is rebuilt from job records after a restart, decayed the same way.
TEST_F(QueuesTest, FairShareUsageSurvivesARestart) {
  Submit("team-a", 0, 64);
  loop_.RunUntil(loop_.clock().Now() + std::chrono::hours(1));
  FinishRunningTask();
  loop_.RunUntil(loop_.clock().Now() + std::chrono::hours(2));
  Submit("team-b", 0, 1);  // a cycle brings the ledger to now
  const double before = DecayedUsage("team-a");
  ASSERT_GT(before, 0.0);

  Result<store::DurableState> state = store::LoadState(store_);
  ASSERT_TRUE(state.has_value());
  controller_ = std::make_unique<Controller>(loop_, persister_, options_);
  controller_->Restore(std::move(*state));
  Drain();

  EXPECT_NEAR(DecayedUsage("team-a"), before, before * 1e-3);
  const double a_after = DecayedUsage("team-a");
  loop_.RunUntil(loop_.clock().Now() + std::chrono::minutes(10));
  Submit("team-b", 0, 1);
  EXPECT_GT(DecayedUsage("team-b"), 0.0);  // its restored running job accrues
  EXPECT_LT(DecayedUsage("team-a"), a_after);  // and old usage keeps decaying
}

}  // namespace
}  // namespace weft::controller
