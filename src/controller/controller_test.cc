#include "controller/controller.h"

#include <gtest/gtest.h>

#include "common/simulated_event_loop.h"
#include "store/in_memory_kv_store.h"

namespace weft::controller {
namespace {

using namespace std::chrono_literals;
using model::JobState;

class ControllerTest : public ::testing::Test {
 protected:
  ControllerTest() : loop_(TimePoint{} + 1000s), persister_(store_, loop_) { Recreate(); }

  void Recreate() {
    controller_ = std::make_unique<Controller>(loop_, persister_, ControllerOptions{});
  }
  void Drain() { loop_.RunUntil(loop_.clock().Now()); }

  model::JobSpec Spec(int nodes = 1, int gpus = 0) {
    model::JobSpec s;
    s.name = "t";
    s.num_nodes = nodes;
    s.per_node = {1000, 0, gpus};
    s.script = "#!/bin/sh\ntrue\n";
    s.submit_dir = s.work_dir = "/tmp";
    return s;
  }

  Result<model::Job> Submit(model::JobSpec spec) {
    std::optional<Result<model::Job>> out;
    controller_->Submit(std::move(spec), [&](Result<model::Job> r) { out = std::move(r); });
    Drain();
    EXPECT_TRUE(out.has_value());
    return *out;
  }

  void Report(const std::string& node, std::vector<model::TaskReport> tasks = {}, int gpus = 4) {
    model::NodeReport r;
    r.name = node;
    r.address = "10.0.0." + node.substr(1);
    r.capacity = {4000, 8LL << 30, gpus};
    r.tasks = std::move(tasks);
    controller_->ReportNode(r, [](Result<std::int64_t>) {});
    Drain();
  }

  model::NodeAssignments Assignments(const std::string& node) {
    return controller_->AssignmentsFor(node);
  }

  model::TaskReport Exit(const model::TaskAssignment& a, int code, int signal = 0) {
    model::TaskReport t;
    t.key = a.key;
    t.phase = model::TaskPhase::kExited;
    t.exit = model::TaskExit{code, signal, false, false, false};
    return t;
  }

  // A 2-node gang (--requeue, 3 retries) running on n1 and n2, both ranks reported running.
  struct RunningGang {
    model::JobId id = 0;
    model::TaskAssignment on1, on2;
  };
  RunningGang RunRequeueableGang() {
    Report("n1");
    Report("n2");
    model::JobSpec spec = Spec(2);
    spec.requeue = true;
    spec.max_retries = 3;
    RunningGang gang;
    gang.id = Submit(spec)->id;
    Drain();
    gang.on1 = Assignments("n1").tasks.at(0);
    gang.on2 = Assignments("n2").tasks.at(0);
    for (const auto& [node, a] : {std::pair{"n1", gang.on1}, std::pair{"n2", gang.on2}}) {
      model::TaskReport running;
      running.key = a.key;
      running.phase = model::TaskPhase::kRunning;
      Report(node, {running});
    }
    return gang;
  }

  SimulatedEventLoop loop_;
  store::InMemoryKvStore store_;
  DirectPersister persister_;
  std::unique_ptr<Controller> controller_;
};

TEST_F(ControllerTest, GangJobRunsOnDistinctNodesWithRendezvousEnvironment) {
  Report("n1");
  Report("n2");
  Result<model::Job> job = Submit(Spec(2, 2));
  ASSERT_TRUE(job.has_value());
  Drain();

  const auto a1 = Assignments("n1");
  const auto a2 = Assignments("n2");

  ASSERT_EQ(a1.tasks.size(), 1u);
  ASSERT_EQ(a2.tasks.size(), 1u);
  const auto& env0 = a1.tasks[0].key.rank == 0 ? a1.tasks[0].env : a2.tasks[0].env;
  const auto& env1 = a1.tasks[0].key.rank == 1 ? a1.tasks[0].env : a2.tasks[0].env;
  EXPECT_EQ(env0.at("WEFT_NUM_NODES"), "2");
  EXPECT_EQ(env1.at("WEFT_NODE_RANK"), "1");
  EXPECT_EQ(env1.at("MASTER_ADDR"), env0.at("WEFT_NODE_IPS").substr(0, env0.at("WEFT_NODE_IPS").find('\n')));
  EXPECT_EQ(env0.at("CUDA_VISIBLE_DEVICES"), "0,1");
  EXPECT_EQ(env0.at("SLURM_JOB_NODELIST"), "n[1-2]");
  EXPECT_EQ(env0.count("SLURM_PROCID"), 0u);
  EXPECT_EQ(controller_->FindJob(job->id)->state, JobState::kRunning);
}

TEST_F(ControllerTest, JobCompletesWhenEveryRankExitsZeroAndFailsOnFirstError) {
  Report("n1");
  Report("n2");
  const auto ok = Submit(Spec(2));
  const auto bad = Submit(Spec(1));
  Drain();
  std::vector<model::TaskAssignment> all;
  for (const char* n : {"n1", "n2"}) {
    for (auto& t : Assignments(n).tasks) all.push_back(t);
  }
  ASSERT_EQ(all.size(), 3u);

  for (const auto& t : all) {
    Report(controller_->FindJob(t.key.job_id)->allocation.ranks[t.key.rank].node,
           {Exit(t, t.key.job_id == bad->id ? 3 : 0)});
  }

  EXPECT_EQ(controller_->FindJob(ok->id)->state, JobState::kCompleted);
  EXPECT_EQ(controller_->FindJob(bad->id)->state, JobState::kFailed);
  EXPECT_EQ(controller_->FindJob(bad->id)->exit_code, 3);
  EXPECT_TRUE(Assignments("n1").tasks.empty());
}

TEST_F(ControllerTest, InfeasibleRequestIsRejectedAndNothingStored) {
  Report("n1");

  Result<model::Job> job = Submit(Spec(1, 16));

  ASSERT_FALSE(job.has_value());
  EXPECT_EQ(job.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(job.error().message.find("gpus"), std::string::npos);
  EXPECT_TRUE(store_.List("job/")->empty());
}

TEST_F(ControllerTest, OversizedGangWaitsWithReasonResources) {
  Report("n1");
  const auto job = Submit(Spec(3));
  Drain();

  EXPECT_EQ(controller_->FindJob(job->id)->state, JobState::kPending);
  EXPECT_EQ(controller_->FindJob(job->id)->reason, "Resources");
}

TEST_F(ControllerTest, CancelRemovesTasksFromAssignmentsAndFreesAfterExit) {
  Report("n1", {}, 1);
  const auto first = Submit(Spec(1, 1));
  const auto second = Submit(Spec(1, 1));
  Drain();
  ASSERT_EQ(Assignments("n1").tasks.size(), 1u);
  const auto task = Assignments("n1").tasks[0];

  std::optional<Result<model::Job>> cancelled;
  controller_->Cancel(first->id, [&](Result<model::Job> r) { cancelled = r; });
  Drain();

  ASSERT_TRUE(cancelled && cancelled->has_value());
  EXPECT_EQ((*cancelled)->state, JobState::kCancelled);
  EXPECT_TRUE(Assignments("n1").tasks.empty());
  EXPECT_EQ(controller_->FindJob(second->id)->state, JobState::kPending);  // GPU still held

  model::TaskReport killed = Exit(task, 143, 15);
  killed.exit->killed_by_agent = true;
  Report("n1", {killed}, 1);
  Drain();

  EXPECT_EQ(controller_->FindJob(first->id)->state, JobState::kCancelled);
  EXPECT_EQ(controller_->FindJob(second->id)->state, JobState::kRunning);
}

TEST_F(ControllerTest, UnknownJobCancelIsNotFound) {
  std::optional<Result<model::Job>> r;
  controller_->Cancel(99, [&](Result<model::Job> x) { r = x; });
  ASSERT_TRUE(r && !r->has_value());
  EXPECT_EQ(r->error().code, ErrorCode::kNotFound);
}

TEST_F(ControllerTest, WatchWaitsForChangeThenAnswers) {
  Report("n1");
  const std::int64_t v = Assignments("n1").version;
  std::optional<model::NodeAssignments> got;
  controller_->WatchNode("n1", v, 10s, [&](model::NodeAssignments a) { got = a; });
  Drain();
  EXPECT_FALSE(got.has_value());

  Submit(Spec(1));
  Drain();

  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->tasks.size(), 1u);
  EXPECT_GT(got->version, v);
}

TEST_F(ControllerTest, RestartKeepsPendingAndRunningJobsAndReconcilesExits) {
  Report("n1", {}, 1);
  const auto running = Submit(Spec(1, 1));
  const auto pending = Submit(Spec(1, 1));
  Drain();
  const auto task = Assignments("n1").tasks.at(0);

  Result<store::DurableState> state = store::LoadState(store_);
  ASSERT_TRUE(state.has_value());
  Recreate();
  controller_->Restore(std::move(*state));
  Drain();

  EXPECT_EQ(controller_->FindJob(running->id)->state, JobState::kRunning);
  EXPECT_EQ(controller_->FindJob(pending->id)->state, JobState::kPending);
  EXPECT_EQ(Assignments("n1").tasks.size(), 1u);

  Report("n1", {Exit(task, 0)}, 1);
  Drain();

  EXPECT_EQ(controller_->FindJob(running->id)->state, JobState::kCompleted);
  EXPECT_EQ(controller_->FindJob(pending->id)->state, JobState::kRunning);
  const auto again = Submit(Spec(1, 1));
  EXPECT_GT(again->id, pending->id);
}

}  // namespace
}  // namespace weft::controller

namespace weft::controller {
namespace {

// Accounting: live usage while running, the attempt with its final usage once it ends,
// durable across a restart; an OOM-killed rank ends the job OOM_KILLED.
TEST_F(ControllerTest, AttemptsRecordFinalUsageAndOomEndsTheJob) {
  Report("n1");
  const auto job = Submit(Spec(1, 2));
  Drain();
  const model::TaskAssignment task = Assignments("n1").tasks.at(0);
  model::TaskReport running;
  running.key = task.key;
  running.phase = model::TaskPhase::kRunning;
  running.start_time = loop_.clock().Now();
  running.usage = model::TaskUsage{500'000, 10 << 20, 8 << 20, 64 << 20, 40};
  Report("n1", {running});
  ASSERT_TRUE(controller_->FindJob(job->id)->tasks[0].usage.has_value());
  EXPECT_EQ(controller_->FindJob(job->id)->tasks[0].usage->memory_current_bytes, 8 << 20);
  EXPECT_TRUE(controller_->FindJob(job->id)->attempts.empty());

  loop_.RunUntil(loop_.clock().Now() + 10s);
  model::TaskReport oom = Exit(task, 137, 9);
  oom.exit->oom_killed = true;
  oom.start_time = running.start_time;
  oom.end_time = loop_.clock().Now();
  oom.usage = model::TaskUsage{2'000'000, 64 << 20, 0, 64 << 20, 40};
  Report("n1", {oom});

  const model::Job* ended = controller_->FindJob(job->id);
  EXPECT_EQ(ended->state, JobState::kOomKilled);
  ASSERT_EQ(ended->attempts.size(), 1u);
  const model::AttemptRecord& a = ended->attempts[0];
  EXPECT_EQ(a.state, JobState::kOomKilled);
  EXPECT_EQ(a.nodes, std::vector<std::string>{"n1"});
  EXPECT_EQ(a.cpu_usec, 2'000'000);
  EXPECT_EQ(a.memory_peak_bytes, 64 << 20);
  EXPECT_EQ(a.memory_limit_bytes, 64 << 20);
  EXPECT_EQ(a.exit_signal, 9);
  EXPECT_EQ(a.gpu_usec, 2 * 10'000'000);

  Recreate();
  auto state = store::LoadState(store_);
  ASSERT_TRUE(state.has_value());
  controller_->Restore(std::move(*state));
  ASSERT_EQ(controller_->FindJob(job->id)->attempts.size(), 1u);
  EXPECT_EQ(controller_->FindJob(job->id)->attempts[0], a);
}

// --require-isolation: placed only on nodes that enforce limits; refused when none could.
TEST_F(ControllerTest, RequireIsolationPlacesOnlyOnEnforcingNodes) {
  Report("n1");
  model::JobSpec spec = Spec(1);
  spec.require_isolation = true;
  Result<model::Job> refused = Submit(spec);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("isolation"), std::string::npos) << refused.error().message;

  model::NodeReport isolated;
  isolated.name = "n2";
  isolated.address = "10.0.0.2";
  isolated.capacity = {4000, 8LL << 30, 0};
  isolated.isolation = model::NodeIsolation{"v1", true, true, true, false, false, true};
  controller_->ReportNode(isolated, [](Result<std::int64_t>) {});
  Drain();
  for (int i = 0; i < 3; ++i) {
    const auto job = Submit(spec);
    ASSERT_TRUE(job.has_value()) << job.error().message;
    Drain();
    EXPECT_EQ(controller_->FindJob(job->id)->allocation.ranks.at(0).node, "n2");
  }
  EXPECT_TRUE(Assignments("n1").tasks.empty());
}

}  // namespace
}  // namespace weft::controller

namespace weft::controller {
namespace {

model::TaskReport Running(const model::TaskAssignment& a) {
  model::TaskReport t;
  t.key = a.key;
  t.phase = model::TaskPhase::kRunning;
  return t;
}

// A node silent past the timeout is DOWN; the gang running there is torn down everywhere and
// requeued (--requeue) as a new attempt; the node that returns is fenced until its stale rank
// is gone, so the job never runs twice at once.
TEST_F(ControllerTest, NodeFailureTearsDownTheGangRequeuesItAndFencesTheNodeOnReturn) {
  const RunningGang gang = RunRequeueableGang();
  const model::JobId id = gang.id;
  const model::TaskAssignment &on1 = gang.on1, &on2 = gang.on2;

  // n1 keeps reporting; n2 goes silent.
  for (int i = 0; i < 8; ++i) {
    loop_.RunUntil(loop_.clock().Now() + 5s);
    Report("n1", {Running(on1)});
  }
  const model::Job* failing = controller_->FindJob(id);
  ASSERT_TRUE(failing->node_failed_at.has_value());
  EXPECT_NE(failing->node_failure.find("n2"), std::string::npos);
  EXPECT_EQ(controller_->ListNodes()[1].state, model::NodeState::kDown);
  EXPECT_TRUE(Assignments("n1").tasks.empty());  // its rank on n1 is being killed
  EXPECT_TRUE(failing->tasks[1].exit->node_failed);

  model::TaskReport killed = Exit(on1, 137, 9);
  killed.exit->killed_by_agent = true;
  Report("n1", {killed});
  const model::Job* requeued = controller_->FindJob(id);
  EXPECT_EQ(requeued->restart_count, 1);
  ASSERT_EQ(requeued->attempts.size(), 1u);
  EXPECT_EQ(requeued->attempts[0].state, JobState::kNodeFail);
  // With n2 down the 2-node gang waits for capacity.
  EXPECT_EQ(requeued->state, JobState::kPending);

  // n2 returns still running its old rank: fenced, nothing new lands there...
  Report("n2", {Running(on2)});
  Drain();
  EXPECT_EQ(controller_->FindJob(id)->state, JobState::kPending);
  EXPECT_TRUE(Assignments("n2").tasks.empty());  // ...and its agent kills the stale rank
  // ...until it reports it gone: then the job runs again, as attempt 1.
  Report("n2", {});
  Drain();
  const model::Job* rerun = controller_->FindJob(id);
  EXPECT_EQ(rerun->state, JobState::kRunning);
  EXPECT_EQ(Assignments("n2").tasks.at(0).key.attempt, 1);
}

// An agent that fenced itself (it lost the controller for --fence-after) reports its rank
// node_failed: the job is handled as a node failure at once, its other ranks torn down and the
// gang requeued, even though the controller never saw the node go silent for its timeout.
TEST_F(ControllerTest, ARankFencedByItsAgentIsANodeFailure) {
  const RunningGang gang = RunRequeueableGang();
  const model::JobId id = gang.id;
  const model::TaskAssignment &on1 = gang.on1, &on2 = gang.on2;
  model::TaskReport fenced = Exit(on2, 137, 9);
  fenced.exit->node_failed = true;
  Report("n2", {fenced});
  const model::Job* failing = controller_->FindJob(id);
  ASSERT_TRUE(failing->node_failed_at.has_value());
  EXPECT_NE(failing->node_failure.find("n2 lost the controller"), std::string::npos) << failing->node_failure;
  EXPECT_TRUE(Assignments("n1").tasks.empty());  // the rank on n1 is being killed
  model::TaskReport killed = Exit(on1, 137, 9);
  killed.exit->killed_by_agent = true;
  Report("n1", {killed});
  const model::Job* requeued = controller_->FindJob(id);
  EXPECT_EQ(requeued->restart_count, 1);
  ASSERT_EQ(requeued->attempts.size(), 1u);
  EXPECT_EQ(requeued->attempts[0].state, JobState::kNodeFail);
}

// Without --requeue a node failure ends the job NODE_FAIL, naming the node.
TEST_F(ControllerTest, NodeFailureWithoutRequeueEndsNodeFail) {
  Report("n1");
  const auto job = Submit(Spec(1));
  Drain();
  Report("n1", {Running(Assignments("n1").tasks.at(0))});
  loop_.RunUntil(loop_.clock().Now() + 40s);
  const model::Job* failed = controller_->FindJob(job->id);
  EXPECT_EQ(failed->state, JobState::kNodeFail);
  EXPECT_NE(failed->reason.find("n1 stopped answering"), std::string::npos) << failed->reason;
  ASSERT_EQ(failed->attempts.size(), 1u);
  EXPECT_EQ(failed->attempts[0].state, JobState::kNodeFail);
}

}  // namespace
}  // namespace weft::controller

namespace weft::controller {
namespace {

// weft node drain: running work finishes, nothing new lands; resume lets it in again. The
// drain survives a restart.
TEST_F(ControllerTest, DrainedNodeTakesNoNewWorkUntilResumed) {
  Report("n1", {}, 1);
  const auto running = Submit(Spec(1, 1));
  Drain();
  const model::TaskAssignment task = Assignments("n1").tasks.at(0);
  std::optional<Result<model::Node>> drained;
  controller_->SetDrain("n1", true, "disk check", [&](Result<model::Node> n) { drained = std::move(n); });
  Drain();
  ASSERT_TRUE(drained && *drained);
  EXPECT_TRUE((*drained)->drain);
  EXPECT_EQ(controller_->FindJob(running->id)->state, JobState::kRunning);  // untouched
  Report("n1", {Exit(task, 0)}, 1);
  const auto waiting = Submit(Spec(1, 1));
  Drain();
  EXPECT_EQ(controller_->FindJob(waiting->id)->state, JobState::kPending);

  Recreate();
  auto state = store::LoadState(store_);
  ASSERT_TRUE(state.has_value());
  controller_->Restore(std::move(*state));
  Report("n1", {}, 1);
  Drain();
  EXPECT_EQ(controller_->FindJob(waiting->id)->state, JobState::kPending);  // still drained
  controller_->SetDrain("n1", false, "", [](Result<model::Node>) {});
  Drain();
  EXPECT_EQ(controller_->FindJob(waiting->id)->state, JobState::kRunning);
  std::optional<Result<model::Node>> missing;
  controller_->SetDrain("nope", true, "", [&](Result<model::Node> n) { missing = std::move(n); });
  ASSERT_TRUE(missing && !*missing);
  EXPECT_EQ(missing->error().code, ErrorCode::kNotFound);
}

// A retried submission with the same idempotency key gets the first job, also after a restart.
TEST_F(ControllerTest, RetriedSubmissionWithTheSameKeyReturnsTheFirstJob) {
  Report("n1");
  auto submit = [&](const std::string& key, const std::string& user = "alice") {
    model::JobSpec spec = Spec(1);
    spec.user = user;
    std::optional<Result<model::Job>> out;
    controller_->Submit(spec, [&](Result<model::Job> r) { out = std::move(r); }, key);
    Drain();
    return out.value();
  };
  const auto first = submit("key-1");
  const auto again = submit("key-1");
  const auto other_user = submit("key-1", "bob");
  const auto other_key = submit("key-2");
  EXPECT_EQ(again->id, first->id);
  EXPECT_NE(other_user->id, first->id);
  EXPECT_NE(other_key->id, first->id);
  Recreate();
  auto state = store::LoadState(store_);
  ASSERT_TRUE(state.has_value());
  controller_->Restore(std::move(*state));
  EXPECT_EQ(submit("key-1")->id, first->id);
  EXPECT_EQ(store_.List("job/")->size(), 3u);
}

}  // namespace
}  // namespace weft::controller
