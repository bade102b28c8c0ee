// Job arrays and dependencies through the Controller on a simulated loop.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/simulated_event_loop.h"
#include "controller/controller.h"
#include "model/json.h"
#include "store/in_memory_kv_store.h"

namespace weft::controller {
namespace {

using namespace std::chrono_literals;
using model::DependencyType;
using model::JobState;

class ArraysDependenciesTest : public ::testing::Test {
 protected:
  ArraysDependenciesTest() : loop_(TimePoint{} + 1000s), persister_(store_, loop_) { Recreate(); }

  void Recreate() {
    controller_ = std::make_unique<Controller>(loop_, persister_, ControllerOptions{});
  }
  void Drain() { loop_.RunUntil(loop_.clock().Now()); }

  model::JobSpec Spec(std::string name = "t") {
    model::JobSpec s;
    s.name = std::move(name);
    s.user = "alice";
    s.per_node = {1000, 0, 0};
    s.script = "#!/bin/sh\ntrue\n";
    s.submit_dir = s.work_dir = "/tmp";
    return s;
  }
  static model::Dependency Dep(DependencyType type, std::vector<model::JobId> jobs = {}) {
    return model::Dependency{{model::DependencyTerm{type, std::move(jobs)}}, false};
  }

  Result<model::Job> Submit(model::JobSpec spec) {
    std::optional<Result<model::Job>> out;
    controller_->Submit(std::move(spec), [&](Result<model::Job> r) { out = std::move(r); });
    Drain();
    EXPECT_TRUE(out.has_value());
    return *out;
  }

  // A node with 4 CPUs: four one-CPU jobs fit at once.
  void Report(std::vector<model::TaskReport> tasks = {}) {
    model::NodeReport r;
    r.name = "n1";
    r.address = "10.0.0.1";
    r.capacity = {4000, 8LL << 30, 0};
    r.tasks = std::move(tasks);
    controller_->ReportNode(r, [](Result<std::int64_t>) {});
    Drain();
  }

  std::vector<model::TaskAssignment> Tasks() { return controller_->AssignmentsFor("n1").tasks; }
  const model::Job& Job(model::JobId id) { return *controller_->FindJob(id); }

  // Reports the exit of `id`'s only rank with `code`.
  void Exit(model::JobId id, int code) {
    for (const model::TaskAssignment& a : Tasks()) {
      if (a.key.job_id != id) continue;
      model::TaskReport t;
      t.key = a.key;
      t.phase = model::TaskPhase::kExited;
      t.exit = model::TaskExit{code, 0, false, false, false};
      Report({t});
      return;
    }
    ADD_FAILURE() << "job " << id << " has no assigned task";
  }

  model::Job Stored(model::JobId id) {
    auto record = store_.Get(fmt::format("job/{:020}", id));
    EXPECT_TRUE(record.has_value());
    auto job = model::JobFromJson(*model::ParseJson(**record));
    EXPECT_TRUE(job.has_value());
    return *job;
  }

  SimulatedEventLoop loop_;
  store::InMemoryKvStore store_;
  DirectPersister persister_;
  std::unique_ptr<Controller> controller_;
};

TEST_F(ArraysDependenciesTest, ArrayCreatesOneDurableJobPerIndexWithArrayEnvironment) {
  Report();
  model::JobSpec spec = Spec();
  spec.array = {{{0, 15, 4}}, 0};
  const auto first = Submit(spec);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->array_job_id, first->id);
  EXPECT_EQ(first->array_task_id, 0);

  const std::vector<int> want = {0, 4, 8, 12};
  for (std::size_t i = 0; i < want.size(); ++i) {
    const model::JobId id = first->id + static_cast<model::JobId>(i);
    const model::Job stored = Stored(id);
    EXPECT_EQ(stored.array_job_id, first->id);
    EXPECT_EQ(stored.array_task_id, want[i]);
    EXPECT_EQ(stored.spec.array, spec.array);
  }
  const auto tasks = Tasks();
  ASSERT_EQ(tasks.size(), 4u);
  for (const model::TaskAssignment& t : tasks) {
    const model::Job& job = Job(t.key.job_id);
    const std::string index = std::to_string(job.array_task_id);
    EXPECT_EQ(t.env.at("SLURM_ARRAY_JOB_ID"), std::to_string(first->id));
    EXPECT_EQ(t.env.at("SLURM_ARRAY_TASK_ID"), index);
    EXPECT_EQ(t.env.at("WEFT_ARRAY_TASK_ID"), index);
    EXPECT_EQ(t.env.at("SLURM_ARRAY_TASK_COUNT"), "4");
    EXPECT_EQ(t.env.at("SLURM_ARRAY_TASK_MIN"), "0");
    EXPECT_EQ(t.env.at("SLURM_ARRAY_TASK_MAX"), "12");
    EXPECT_EQ(t.env.at("SLURM_ARRAY_TASK_STEP"), "4");
    EXPECT_EQ(t.env.at("SLURM_JOB_ID"), std::to_string(job.id));
    EXPECT_EQ(t.output_path, fmt::format("/tmp/weft-{}_{}.out", first->id, index));
  }
  // The next submission gets the id after the last task.
  const auto next = Submit(Spec());
  EXPECT_EQ(next->id, first->id + 4);
  EXPECT_EQ(next->array_job_id, 0);
  for (const model::TaskAssignment& t : Tasks()) {
    if (t.key.job_id == next->id) {
      EXPECT_EQ(t.env.count("SLURM_ARRAY_TASK_ID"), 0u);
    }
  }
}

TEST_F(ArraysDependenciesTest, ThrottleKeepsAtMostNTasksRunning) {
  Report();
  model::JobSpec spec = Spec();
  spec.array = {{{0, 5, 1}}, 2};
  spec.output_pattern = "out-%A_%a.txt";
  const auto first = Submit(spec);
  ASSERT_TRUE(first.has_value());
  std::set<model::JobId> done;
  while (done.size() < 6) {
    const auto tasks = Tasks();
    ASSERT_EQ(tasks.size(), std::min<std::size_t>(2, 6 - done.size()));
    for (model::JobId id = first->id; id < first->id + 6; ++id) {
      const model::Job& job = Job(id);
      if (job.state == JobState::kPending) {
        EXPECT_EQ(job.reason, "JobArrayTaskLimit");
      }
    }
    EXPECT_EQ(tasks[0].output_path,
              fmt::format("/tmp/out-{}_{}.txt", first->id, Job(tasks[0].key.job_id).array_task_id));
    done.insert(tasks[0].key.job_id);
    Exit(tasks[0].key.job_id, 0);
  }
  for (model::JobId id = first->id; id < first->id + 6; ++id) {
    EXPECT_EQ(Job(id).state, JobState::kCompleted);
  }
}

TEST_F(ArraysDependenciesTest, AfterOkWaitsThenRuns) {
  Report();
  const auto a = Submit(Spec());
  model::JobSpec b_spec = Spec();
  b_spec.dependency = Dep(DependencyType::kAfterOk, {a->id});
  const auto b = Submit(b_spec);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(Job(b->id).state, JobState::kPending);
  EXPECT_EQ(Job(b->id).reason, "Dependency");
  Exit(a->id, 0);
  EXPECT_EQ(Job(b->id).state, JobState::kRunning);
  EXPECT_EQ(Tasks().at(0).env.at("SLURM_JOB_DEPENDENCY"), fmt::format("afterok:{}", a->id));
}

TEST_F(ArraysDependenciesTest, NeverSatisfiedDependencyFailsTheChainDurably) {
  Report();
  const auto a = Submit(Spec());
  model::JobSpec c_spec = Spec();
  c_spec.dependency = Dep(DependencyType::kAfterOk, {a->id});
  const auto c = Submit(c_spec);
  model::JobSpec d_spec = Spec();
  d_spec.dependency = Dep(DependencyType::kAfterOk, {c->id});
  const auto d = Submit(d_spec);
  model::JobSpec e_spec = Spec();
  e_spec.dependency = Dep(DependencyType::kAfterNotOk, {c->id});
  const auto e = Submit(e_spec);

  Exit(a->id, 3);

  EXPECT_EQ(Job(a->id).state, JobState::kFailed);
  EXPECT_EQ(Job(c->id).state, JobState::kFailed);
  EXPECT_EQ(Job(c->id).reason, fmt::format("DependencyNeverSatisfied: afterok:{} ended FAILED", a->id));
  EXPECT_EQ(Job(d->id).state, JobState::kFailed);
  EXPECT_EQ(Job(d->id).reason, fmt::format("DependencyNeverSatisfied: afterok:{} ended FAILED", c->id));
  EXPECT_EQ(Job(e->id).state, JobState::kRunning);  // afternotok on a failed job holds
  EXPECT_EQ(Stored(c->id).state, JobState::kFailed);
  EXPECT_EQ(Stored(d->id).reason, Job(d->id).reason);
  // A waiter on the failed job is answered.
  std::optional<Result<model::Job>> waited;
  controller_->WaitJob(d->id, 10s, [&](Result<model::Job> r) { waited = std::move(r); });
  Drain();
  ASSERT_TRUE(waited.has_value() && waited->has_value());
  EXPECT_EQ((*waited)->state, JobState::kFailed);
}

TEST_F(ArraysDependenciesTest, UnknownJobInADependencyIsRejectedAtSubmit) {
  Report();
  model::JobSpec spec = Spec();
  spec.dependency = Dep(DependencyType::kAfterOk, {42});
  const auto job = Submit(spec);
  ASSERT_FALSE(job.has_value());
  EXPECT_EQ(job.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(job.error().message, "dependency: afterok:42 names job 42, which does not exist");
  EXPECT_TRUE(store_.List("job/")->empty());
}

TEST_F(ArraysDependenciesTest, DependencyOnAnArrayWaitsForEveryTask) {
  Report();
  model::JobSpec array = Spec();
  array.array = {{{0, 2, 1}}, 0};
  const auto first = Submit(array);
  model::JobSpec after_spec = Spec();
  after_spec.dependency = Dep(DependencyType::kAfterAny, {first->id});
  const auto after = Submit(after_spec);
  Exit(first->id, 0);
  Exit(first->id + 1, 1);
  EXPECT_EQ(Job(after->id).state, JobState::kPending);
  EXPECT_EQ(Job(after->id).reason, "Dependency");
  Exit(first->id + 2, 0);
  EXPECT_EQ(Job(after->id).state, JobState::kRunning);
}

TEST_F(ArraysDependenciesTest, AfterWaitsForTheStartAndAfterAnyCountsACancel) {
  model::JobSpec big = Spec();
  big.per_node = {4000, 0, 0};
  Report();
  const auto blocker = Submit(big);  // takes the whole node
  const auto a = Submit(big);        // waits for resources
  model::JobSpec b_spec = Spec();
  b_spec.per_node = {0, 0, 0};
  b_spec.dependency = Dep(DependencyType::kAfter, {a->id});
  const auto b = Submit(b_spec);
  model::JobSpec c_spec = Spec();
  c_spec.per_node = {0, 0, 0};
  c_spec.dependency = Dep(DependencyType::kAfterAny, {a->id});
  const auto c = Submit(c_spec);
  EXPECT_EQ(Job(b->id).reason, "Dependency");

  Exit(blocker->id, 0);  // a starts, so b may start
  EXPECT_EQ(Job(a->id).state, JobState::kRunning);
  EXPECT_EQ(Job(b->id).state, JobState::kRunning);
  EXPECT_EQ(Job(c->id).state, JobState::kPending);

  std::optional<Result<model::Job>> cancelled;
  controller_->Cancel(a->id, [&](Result<model::Job> r) { cancelled = std::move(r); });
  Drain();
  EXPECT_EQ(Job(c->id).state, JobState::kRunning);
}

TEST_F(ArraysDependenciesTest, SingletonRunsOneJobPerNameAndUser) {
  Report();
  model::JobSpec spec = Spec("train");
  spec.dependency = Dep(DependencyType::kSingleton);
  const auto one = Submit(spec);
  const auto two = Submit(spec);
  model::JobSpec other_user = spec;
  other_user.user = "bob";
  const auto bobs = Submit(other_user);
  EXPECT_EQ(Job(one->id).state, JobState::kRunning);
  EXPECT_EQ(Job(two->id).state, JobState::kPending);
  EXPECT_EQ(Job(two->id).reason, "Dependency");
  EXPECT_EQ(Job(bobs->id).state, JobState::kRunning);
  Exit(one->id, 0);
  EXPECT_EQ(Job(two->id).state, JobState::kRunning);
}

TEST_F(ArraysDependenciesTest, CancellingTheArrayIdCancelsEveryTask) {
  Report();
  model::JobSpec spec = Spec();
  spec.array = {{{0, 3, 1}}, 1};
  const auto first = Submit(spec);
  Exit(first->id, 0);  // task 0 completed, task 1 runs, tasks 2 and 3 wait
  model::JobSpec dep = Spec();
  dep.dependency = Dep(DependencyType::kAfterAny, {first->id});
  const auto after = Submit(dep);

  std::optional<Result<model::Job>> cancelled;
  controller_->Cancel(first->id, [&](Result<model::Job> r) { cancelled = std::move(r); });
  Drain();
  ASSERT_TRUE(cancelled && cancelled->has_value());
  EXPECT_EQ(Job(first->id).state, JobState::kCompleted);
  for (model::JobId id = first->id + 1; id < first->id + 4; ++id) {
    EXPECT_EQ(Job(id).state, JobState::kCancelled);
    EXPECT_EQ(Stored(id).state, JobState::kCancelled);
  }
  // Cancelling a single task leaves the others alone.
  model::JobSpec more = Spec();
  more.array = {{{0, 1, 1}}, 0};
  const auto second = Submit(more);
  controller_->Cancel(second->id + 1, [](Result<model::Job>) {});
  Drain();
  EXPECT_EQ(Job(second->id + 1).state, JobState::kCancelled);
  EXPECT_NE(Job(second->id).state, JobState::kCancelled);
  // Every task of the first array has ended: afterany holds.
  EXPECT_EQ(Job(after->id).state, JobState::kRunning);
}

TEST_F(ArraysDependenciesTest, RestoreKeepsArraysAndDependencies) {
  Report();
  model::JobSpec array = Spec();
  array.array = {{{1, 3, 1}}, 1};
  const auto first = Submit(array);
  model::JobSpec dep = Spec();
  dep.dependency = Dep(DependencyType::kAfterOk, {first->id});
  const auto waiting = Submit(dep);
  const auto running = Tasks().at(0).key.job_id;

  Result<store::DurableState> state = store::LoadState(store_);
  ASSERT_TRUE(state.has_value());
  Recreate();
  controller_->Restore(std::move(*state));
  Report();
  EXPECT_EQ(Tasks().size(), 1u);  // the throttle still holds
  EXPECT_EQ(Job(waiting->id).reason, "Dependency");
  EXPECT_EQ(Job(first->id + 2).array_task_id, 3);
  Exit(running, 0);
  Exit(Tasks().at(0).key.job_id, 0);
  Exit(Tasks().at(0).key.job_id, 0);
  EXPECT_EQ(Job(waiting->id).state, JobState::kRunning);
}

}  // namespace
}  // namespace weft::controller
