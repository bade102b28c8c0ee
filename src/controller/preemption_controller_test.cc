// Preemption in the controller: a victim's ranks get a stop request (its --signal, the
// configured grace) once durable; when every rank has exited it is requeued as a new attempt
// (WEFT_RESTART_COUNT raised) or ends PREEMPTED; the preemptor holds what the victim freed.
#include <gtest/gtest.h>
#include <signal.h>

#include "common/simulated_event_loop.h"
#include "controller/controller.h"
#include "spec/cluster_config.h"
#include "store/in_memory_kv_store.h"

namespace weft::controller {
namespace {

using namespace std::chrono_literals;
using model::JobState;

// Makes batches durable only when the test says so: shows what is visible before that.
class HeldPersister final : public Persister {
 public:
  HeldPersister(store::KvStore& store, EventLoop& loop) : direct_(store, loop) {}
  void Persist(store::WriteBatch batch, std::function<void()> done) override {
    if (!hold_) return direct_.Persist(std::move(batch), std::move(done));
    held_.emplace_back(std::move(batch), std::move(done));
  }
  void Hold(bool hold) { hold_ = hold; }
  void ReleaseAll() {
    hold_ = false;
    for (auto& [batch, done] : std::exchange(held_, {}))
      direct_.Persist(std::move(batch), std::move(done));
  }

 private:
  DirectPersister direct_;
  bool hold_ = false;
  std::vector<std::pair<store::WriteBatch, std::function<void()>>> held_;
};

class PreemptionControllerTest : public ::testing::Test {
 protected:
  PreemptionControllerTest() : loop_(TimePoint{} + 1000s), persister_(store_, loop_) {}

  // One node with 8 GPUs; `config`: cluster YAML ("" = one default queue).
  void Start(const std::string& config = "scheduler:\n  preemption_grace: 10s\n") {
    auto parsed = spec::ParseClusterConfig(config);
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
    ControllerOptions options;
    options.config = *parsed;
    controller_ = std::make_unique<Controller>(loop_, persister_, options);
    Report({});
  }
  void Drain() { loop_.RunUntil(loop_.clock().Now()); }
  void Advance(Duration d) {
    loop_.RunUntil(loop_.clock().Now() + d);
    Report({});  // stay alive
  }

  model::JobSpec Spec(int gpus, int priority, bool preemptible, int max_retries = 0,
                      const std::string& queue = "") {
    model::JobSpec s;
    s.name = "t";
    s.per_node = {1000, 0, gpus};
    s.priority = priority;
    s.preemptible = preemptible;
    s.max_retries = max_retries;
    s.queue = queue;
    s.script = "#!/bin/sh\ntrue\n";
    s.submit_dir = s.work_dir = "/tmp";
    return s;
  }
  model::JobId Submit(model::JobSpec spec) {
    std::optional<Result<model::Job>> out;
    controller_->Submit(std::move(spec), [&](Result<model::Job> r) { out = std::move(r); });
    Drain();
    EXPECT_TRUE(out.has_value() && out->has_value());
    return out && *out ? (*out)->id : 0;
  }
  void Report(std::vector<model::TaskReport> tasks) {
    model::NodeReport r;
    r.name = "n1";
    r.address = "10.0.0.1";
    r.capacity = {64000, 64LL << 30, 16};
    r.tasks = std::move(tasks);
    controller_->ReportNode(r, [](Result<std::int64_t>) {});
    Drain();
  }
  const model::Job& Job(model::JobId id) { return *controller_->FindJob(id); }
  // The node's assignment of `id`'s rank 0, if any.
  std::optional<model::TaskAssignment> Assignment(model::JobId id) {
    for (const model::TaskAssignment& a : controller_->AssignmentsFor("n1").tasks) {
      if (a.key.job_id == id) return a;
    }
    return std::nullopt;
  }
  void Exit(const model::TaskAssignment& a, int code, int signal, bool preempted) {
    model::TaskReport t;
    t.key = a.key;
    t.phase = model::TaskPhase::kExited;
    t.exit = model::TaskExit{code, signal, false, false, false, preempted};
    Report({t});
  }

  SimulatedEventLoop loop_;
  store::InMemoryKvStore store_;
  HeldPersister persister_;
  std::unique_ptr<Controller> controller_;
};

TEST_F(PreemptionControllerTest, VictimIsStoppedThenRequeuedAsANewAttemptAndThePreemptorRuns) {
  Start();
  const model::JobId victim = Submit(Spec(16, 0, /*preemptible=*/true, /*max_retries=*/2));
  ASSERT_EQ(Job(victim).state, JobState::kRunning);
  const model::TaskAssignment first = *Assignment(victim);
  EXPECT_EQ(first.env.at("WEFT_RESTART_COUNT"), "0");
  EXPECT_FALSE(first.stop.has_value());

  const model::JobId preemptor = Submit(Spec(16, 10, false));

  EXPECT_EQ(Job(preemptor).state, JobState::kPending);
  ASSERT_TRUE(Job(victim).preempted_at.has_value());
  EXPECT_EQ(Job(victim).preempted_by, preemptor);
  EXPECT_EQ(Job(victim).preemption_reason,
            "preempted by job " + std::to_string(preemptor) + " (priority 10 > 0)");
  const std::optional<model::TaskAssignment> stopping = Assignment(victim);
  ASSERT_TRUE(stopping && stopping->stop);
  EXPECT_EQ(stopping->stop->signal, SIGTERM);
  EXPECT_EQ(stopping->stop->grace, 10s);

  // Nothing changes until the victim's ranks have exited, however many cycles run.
  Advance(5s);
  EXPECT_EQ(Job(preemptor).state, JobState::kPending);
  Exit(first, 143, SIGTERM, /*preempted=*/true);

  EXPECT_EQ(Job(victim).state, JobState::kPending);
  EXPECT_EQ(Job(victim).restart_count, 1);
  ASSERT_EQ(Job(victim).attempts.size(), 1u);  // the stopped run is in its history
  EXPECT_EQ(Job(victim).attempts[0].state, JobState::kPreempted);
  EXPECT_EQ(Job(victim).attempts[0].attempt, 0);
  EXPECT_FALSE(Job(victim).preempted_at.has_value());
  EXPECT_EQ(Job(preemptor).state, JobState::kRunning);
  EXPECT_FALSE(Assignment(victim).has_value());

  // The preemptor ends: the victim's second attempt starts, told it is a restart.
  Exit(*Assignment(preemptor), 0, 0, false);
  ASSERT_EQ(Job(victim).state, JobState::kRunning);
  const model::TaskAssignment second = *Assignment(victim);
  EXPECT_EQ(second.key.attempt, 1);
  EXPECT_EQ(second.env.at("WEFT_RESTART_COUNT"), "1");
  EXPECT_EQ(second.env.at("SLURM_RESTART_COUNT"), "1");
  EXPECT_FALSE(second.stop.has_value());
  // A late report of the first attempt is stale: it changes nothing.
  Exit(first, 137, SIGKILL, true);
  EXPECT_EQ(Job(victim).state, JobState::kRunning);
}

TEST_F(PreemptionControllerTest, AVictimWithoutRetriesLeftEndsPreempted) {
  Start();
  const model::JobId victim = Submit(Spec(16, 0, true, /*max_retries=*/0));
  const model::TaskAssignment task = *Assignment(victim);
  const model::JobId preemptor = Submit(Spec(16, 10, false));

  Advance(10s);
  Exit(task, 137, SIGKILL, true);  // ignored the signal: SIGKILLed after the grace

  EXPECT_EQ(Job(victim).state, JobState::kPreempted);
  EXPECT_EQ(Job(victim).exit_signal, SIGKILL);
  EXPECT_EQ(Job(victim).reason,
            "preempted by job " + std::to_string(preemptor) + " (priority 10 > 0)");
  EXPECT_EQ(Job(preemptor).state, JobState::kRunning);
}

TEST_F(PreemptionControllerTest, AVictimThatFinishedBeforeItsStopIsNotRerun) {
  Start();
  const model::JobId victim = Submit(Spec(16, 0, true, 2));
  const model::TaskAssignment task = *Assignment(victim);
  const model::JobId preemptor = Submit(Spec(16, 10, false));
  ASSERT_TRUE(Job(victim).preempted_at.has_value());

  Exit(task, 0, 0, /*preempted=*/false);  // ended on its own before the agent saw the stop

  EXPECT_EQ(Job(victim).state, JobState::kCompleted);
  EXPECT_EQ(Job(victim).restart_count, 0);
  EXPECT_EQ(Job(preemptor).state, JobState::kRunning);
}

TEST_F(PreemptionControllerTest, AJobNotMarkedPreemptibleIsNeverPreempted) {
  Start();
  const model::JobId running = Submit(Spec(16, 0, /*preemptible=*/false));
  const model::JobId waiting = Submit(Spec(16, 1000, false));
  Advance(20s);

  EXPECT_FALSE(Job(running).preempted_at.has_value());
  EXPECT_FALSE(Assignment(running)->stop.has_value());
  EXPECT_EQ(Job(waiting).state, JobState::kPending);
}

TEST_F(PreemptionControllerTest, TheSignalOptionIsTheStopSignalAndTheTimeLimitWarning) {
  Start();
  model::JobSpec spec = Spec(16, 0, true, 1);
  spec.signal = model::SignalSpec{SIGUSR1, 90s, false};
  spec.time_limit = 1h;
  const model::JobId victim = Submit(spec);
  ASSERT_TRUE(Assignment(victim)->warning.has_value());
  EXPECT_EQ(Assignment(victim)->warning->signal, SIGUSR1);
  EXPECT_EQ(Assignment(victim)->warning->before, 90s);

  Submit(Spec(16, 10, false));

  ASSERT_TRUE(Assignment(victim)->stop.has_value());
  EXPECT_EQ(Assignment(victim)->stop->signal, SIGUSR1);
}

TEST_F(PreemptionControllerTest, AgentsSeeTheStopOnlyOnceItIsDurable) {
  Start();
  const model::JobId victim = Submit(Spec(16, 0, true, 1));
  persister_.Hold(true);
  std::optional<Result<model::Job>> submitted;
  controller_->Submit(Spec(16, 10, false), [&](Result<model::Job> r) { submitted = std::move(r); });
  Drain();
  ASSERT_TRUE(Job(victim).preempted_at.has_value());   // decided in memory
  EXPECT_FALSE(Assignment(victim)->stop.has_value());  // not visible yet

  persister_.ReleaseAll();
  Drain();
  EXPECT_TRUE(Assignment(victim)->stop.has_value());
}

TEST_F(PreemptionControllerTest, ALenderReclaimsFromTheNewestPreemptibleBorrower) {
  Start(R"(
queues:
  - name: team-a
    quota: {gpus: 8}
    cohort: research
  - name: team-b
    quota: {gpus: 8}
    cohort: research
scheduler:
  preemption_grace: 1s
)");
  const model::JobId nominal = Submit(Spec(8, 100, true, 1, "team-b"));
  const model::JobId borrower = Submit(Spec(8, 100, true, 1, "team-b"));
  ASSERT_EQ(Job(borrower).state, JobState::kRunning);

  const model::JobId lender = Submit(Spec(8, 0, false, 0, "team-a"));

  EXPECT_FALSE(Job(nominal).preempted_at.has_value());
  ASSERT_TRUE(Job(borrower).preempted_at.has_value());  // same lost work: the newest goes
  EXPECT_EQ(Job(borrower).preemption_reason, "preempted by job " + std::to_string(lender) +
                                                 " (queue team-a reclaims its lent quota)");
  Exit(*Assignment(borrower), 0, 0, true);  // left within the grace, on its own
  EXPECT_EQ(Job(lender).state, JobState::kRunning);
  EXPECT_EQ(Job(borrower).state, JobState::kPending);
}

TEST_F(PreemptionControllerTest, ANonPreemptibleBorrowerKeepsItsGpusAndTheLenderWaits) {
  Start(R"(
queues:
  - name: team-a
    quota: {gpus: 8}
    cohort: research
  - name: team-b
    quota: {gpus: 8}
    cohort: research
)");
  Submit(Spec(8, 0, false, 0, "team-b"));
  const model::JobId borrower = Submit(Spec(8, 0, false, 0, "team-b"));
  const model::JobId lender = Submit(Spec(8, 0, false, 0, "team-a"));
  Advance(20s);

  EXPECT_FALSE(Job(borrower).preempted_at.has_value());
  EXPECT_EQ(Job(lender).state, JobState::kPending);
  EXPECT_EQ(Job(lender).reason, "Resources");
}

}  // namespace
}  // namespace weft::controller
