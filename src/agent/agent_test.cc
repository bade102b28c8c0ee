#include "agent/agent.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>

#include "agent/agent_test_util.h"
#include "agent/cgroup_driver.h"
#include "agent/child_reaper.h"
#include "agent/fake_controller_client.h"
#include "agent/task_journal.h"
#include "agent/task_supervisor.h"

namespace weft::agent {
namespace {

using model::TaskAssignment;
using model::TaskKey;
using model::TaskPhase;
using model::TaskReport;
using testing::KillMarkedProcesses;
using testing::Lines;
using testing::MarkedProcesses;
using testing::ReadFile;
using testing::TempDir;
using testing::WaitUntil;
namespace fs = std::filesystem;

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    name_ = fmt::format("test-{}-{}", ::getpid(), counter++);
    state_dir_ = dir_.path() + "/state";
    controller_ = std::make_shared<FakeController>();
  }

  void TearDown() override {
    agents_.clear();  // stops them
    EXPECT_TRUE(MarkedProcesses(name_ + "/").empty()) << "the test left task processes behind";
    EXPECT_TRUE(KillMarkedProcesses(name_ + "/"));
    RemoveAgentCgroups();
  }

  // The agents' base cgroup and what a stopped agent left in it for adoption: tests that stop
  // an agent with tasks running leave their cgroups, as a real agent does for its successor.
  void RemoveAgentCgroups() {
    CgroupOptions options;
    options.base_name = CgroupBaseName(name_, state_dir_);
    auto driver = DetectCgroupDriver(options);
    if (!driver) return;
    for (const std::string& cgroup : (*driver)->List()) {
      (*driver)->KillAll(cgroup);
      WaitUntil([&] { return static_cast<bool>((*driver)->Remove(cgroup)); }, std::chrono::seconds(5));
    }
    (*driver)->DrainPool();
    (void)(*driver)->RemoveBase();
  }

  Agent& StartAgent() {
    AgentConfig config;
    config.name = name_;
    config.work_dir = state_dir_;
    config.capacity.cpu_milli = 4000;
    config.labels = {{"zone", "a"}};
    config.heartbeat_interval = std::chrono::milliseconds(100);
    config.kill_wait = std::chrono::milliseconds(200);
    config.fence_after = fence_after_;
    auto agent = std::make_unique<Agent>(config, [c = controller_] { return c->NewClient(); });
    auto started = agent->Start();
    EXPECT_TRUE(started) << started.error().message;
    agents_.push_back(std::move(agent));
    return *agents_.back();
  }

  TaskAssignment Task(int job_id, const std::string& body) {
    TaskAssignment a;
    a.key = TaskKey{job_id, 0, 0};
    a.script = "#!/bin/sh\n" + body + "\n";
    a.env = {{"PATH", "/usr/bin:/bin"}};
    a.work_dir = dir_.path();
    a.output_path = OutputOf(job_id);
    return a;
  }
  std::string OutputOf(int job_id) const { return fmt::format("{}/{}.out", dir_.path(), job_id); }
  std::string MarkerOf(int job_id) const { return fmt::format("{}/{}.0", name_, job_id); }
  std::string TaskDir(int job_id) const { return fmt::format("{}/tasks/{}.0", state_dir_, job_id); }
  // True once the task's exit is in the agent's journal (durable).
  bool Journaled(int job_id) const {
    for (const std::string& line : Lines(ReadFile(state_dir_ + "/journal"))) {
      if (line.starts_with("{\"exit\":") &&
          line.find(fmt::format("\"job_id\":{},", job_id)) != std::string::npos) {
        return true;
      }
    }
    return false;
  }

  // The exit of a task, once reported.
  model::TaskExit ExitOf(int job_id) {
    auto report = controller_->WaitForTask(TaskKey{job_id, 0, 0}, TaskPhase::kExited);
    EXPECT_TRUE(report.has_value()) << "task " << job_id << " never reported an exit";
    if (!report || !report->exit) return model::TaskExit{.exit_code = -1000};
    return *report->exit;
  }
  bool Running(int job_id) {
    return controller_->WaitForTask(TaskKey{job_id, 0, 0}, TaskPhase::kRunning).has_value();
  }

  TempDir dir_;
  std::string name_;
  std::string state_dir_;
  std::shared_ptr<FakeController> controller_;
  std::vector<std::unique_ptr<Agent>> agents_;
  Duration fence_after_ = std::chrono::seconds(20);  // AgentConfig's default
};

TEST_F(AgentTest, ReportsNodeAtStart) {
  StartAgent();
  ASSERT_TRUE(controller_->WaitFor([](const auto& reports) { return !reports.empty(); }));
  const model::NodeReport report = controller_->Reports().front();
  EXPECT_EQ(report.name, name_);
  EXPECT_EQ(report.address, "127.0.0.1");
  EXPECT_EQ(report.capacity.cpu_milli, 4000);
  EXPECT_EQ(report.labels.at("zone"), "a");
  EXPECT_TRUE(report.tasks.empty());
}

TEST_F(AgentTest, RunsTaskWithExactlyItsEnvironmentCwdArgsAndOutput) {
  const std::string cwd = dir_.path() + "/cwd";
  fs::create_directory(cwd);
  TaskAssignment a = Task(7,
                          "echo \"args: $1|$2\"; pwd; stat -c %a \"$0\"; echo oops >&2; "
                          "exec /usr/bin/env");
  a.args = {"one", "two words"};
  a.env = {{"PATH", "/usr/bin:/bin"}, {"FOO", "bar baz"}, {"WEFT_JOB_ID", "7"}};
  a.work_dir = cwd;
  a.error_path = dir_.path() + "/7.err";
  StartAgent();
  controller_->SetAssignments({a});
  const model::TaskExit exit = ExitOf(7);
  EXPECT_EQ(exit.exit_code, 0);
  EXPECT_EQ(exit.signal, 0);

  std::vector<std::string> lines = Lines(ReadFile(OutputOf(7)));
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[0], "args: one|two words");
  EXPECT_EQ(lines[1], cwd);
  EXPECT_EQ(lines[2], "700");  // the script's mode
  std::set<std::string> env(lines.begin() + 3, lines.end());
  env.erase("PWD=" + cwd);  // /bin/sh exports PWD itself
  EXPECT_EQ(env, (std::set<std::string>{"PATH=/usr/bin:/bin", "FOO=bar baz", "WEFT_JOB_ID=7",
                                        "WEFT_TASK_MARKER=" + MarkerOf(7)}));
  EXPECT_EQ(ReadFile(dir_.path() + "/7.err"), "oops\n");
}

TEST_F(AgentTest, ReportsExitCodeAndSignal) {
  StartAgent();
  TaskAssignment merged = Task(3, "echo out; echo err >&2; exit 3");
  controller_->SetAssignments({merged, Task(4, "kill -9 $$")});
  const model::TaskExit exited = ExitOf(3);
  EXPECT_EQ(exited.exit_code, 3);
  EXPECT_EQ(exited.signal, 0);
  EXPECT_FALSE(exited.killed_by_agent);
  EXPECT_FALSE(exited.timed_out);
  const model::TaskExit killed = ExitOf(4);
  EXPECT_EQ(killed.exit_code, 128 + SIGKILL);
  EXPECT_EQ(killed.signal, SIGKILL);
  EXPECT_EQ(ReadFile(OutputOf(3)), "out\nerr\n");  // stderr merged when error_path is ""
}

TEST_F(AgentTest, ReportsRunningTaskWithStartTime) {
  StartAgent();
  controller_->SetAssignments({Task(1, "sleep 1000")});
  auto report = controller_->WaitForTask(TaskKey{1, 0, 0}, TaskPhase::kRunning);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->start_time.has_value());
  EXPECT_FALSE(report->end_time.has_value());
  EXPECT_FALSE(report->exit.has_value());
  controller_->SetAssignments({});
  EXPECT_TRUE(ExitOf(1).killed_by_agent);
}

TEST_F(AgentTest, FailedLaunchEndsTaskWithExitCode1AndSaysWhy) {
  StartAgent();
  TaskAssignment bad_cwd = Task(1, "echo never");
  bad_cwd.work_dir = dir_.path() + "/missing";
  TaskAssignment bad_output = Task(2, "echo never");
  bad_output.output_path = dir_.path() + "/missing/2.out";
  controller_->SetAssignments({bad_cwd, bad_output});
  EXPECT_EQ(ExitOf(1).exit_code, 1);
  EXPECT_EQ(ExitOf(2).exit_code, 1);
  const std::string output = ReadFile(OutputOf(1));
  EXPECT_NE(output.find("cannot start task 1.0"), std::string::npos) << output;
  EXPECT_NE(output.find("missing"), std::string::npos) << output;
  EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1);
}

TEST_F(AgentTest, KillsUnassignedTaskAndItsEscapedGrandchild) {
  StartAgent();
  controller_->SetAssignments({Task(1, "setsid sleep 1000 &\nsleep 1000")});
  ASSERT_TRUE(Running(1));
  // sh, its sleep, and the sleep that left the process group with setsid.
  ASSERT_TRUE(WaitUntil([&] { return MarkedProcesses(MarkerOf(1)).size() == 3; }));
  controller_->SetAssignments({});
  const model::TaskExit exit = ExitOf(1);
  EXPECT_TRUE(exit.killed_by_agent);
  EXPECT_FALSE(exit.timed_out);
  EXPECT_EQ(exit.signal, SIGTERM);
  EXPECT_TRUE(WaitUntil([&] { return MarkedProcesses(MarkerOf(1)).empty(); }));
}

TEST_F(AgentTest, TimeLimitEndsTaskWithTimedOut) {
  StartAgent();
  TaskAssignment polite = Task(1, "sleep 1000");
  polite.time_limit = std::chrono::milliseconds(100);
  // Ignores SIGTERM (and so does its sleep): needs the SIGKILL after kill_wait.
  TaskAssignment stubborn = Task(2, "trap '' TERM\nsleep 1000\nsleep 1000");
  stubborn.time_limit = std::chrono::milliseconds(100);
  controller_->SetAssignments({polite, stubborn});
  const model::TaskExit first = ExitOf(1);
  EXPECT_TRUE(first.timed_out);
  EXPECT_FALSE(first.killed_by_agent);
  EXPECT_EQ(first.signal, SIGTERM);
  EXPECT_EQ(first.exit_code, 128 + SIGTERM);
  const model::TaskExit second = ExitOf(2);
  EXPECT_TRUE(second.timed_out);
  EXPECT_EQ(second.signal, SIGKILL);
  EXPECT_TRUE(WaitUntil([&] { return MarkedProcesses(name_ + "/").empty(); }));
}

TEST_F(AgentTest, PreemptionSendsTheRequestedSignalAndSigkillsAfterTheGrace) {
  StartAgent();
  const std::string ready = dir_.path() + "/ready";
  const std::string got = dir_.path() + "/got-usr1";
  // Notes USR1 and carries on (its sleeps die of it; the loop goes on): needs the SIGKILL.
  TaskAssignment a = Task(1, "trap 'echo usr1 >> " + got + "' USR1\ntouch " + ready +
                                 "\nwhile true; do sleep 0.05; done");
  controller_->SetAssignments({a});
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(ready); }));
  a.stop = model::StopRequest{SIGUSR1, std::chrono::milliseconds(300)};
  controller_->SetAssignments({a});
  const model::TaskExit exit = ExitOf(1);
  EXPECT_TRUE(exit.preempted);
  EXPECT_FALSE(exit.killed_by_agent);
  EXPECT_FALSE(exit.timed_out);
  EXPECT_EQ(exit.signal, SIGKILL);
  EXPECT_NE(ReadFile(got).find("usr1"), std::string::npos);
  EXPECT_TRUE(WaitUntil([&] { return MarkedProcesses(MarkerOf(1)).empty(); }));
}

TEST_F(AgentTest, PreemptedTaskThatHonoursTheSignalEndsWithinTheGrace) {
  StartAgent();
  TaskAssignment a = Task(1, "sleep 1000");
  controller_->SetAssignments({a});
  ASSERT_TRUE(Running(1));
  a.stop = model::StopRequest{SIGTERM, std::chrono::seconds(30)};
  controller_->SetAssignments({a});
  const model::TaskExit exit = ExitOf(1);  // long before the 30 s grace
  EXPECT_TRUE(exit.preempted);
  EXPECT_EQ(exit.signal, SIGTERM);
}

TEST_F(AgentTest, AStoppedAssignmentIsNeverStartedAndReportedExited) {
  StartAgent();
  TaskAssignment a = Task(1, "echo ran");
  a.stop = model::StopRequest{SIGTERM, std::chrono::seconds(1)};
  controller_->SetAssignments({a});
  const model::TaskExit exit = ExitOf(1);
  EXPECT_TRUE(exit.preempted);
  EXPECT_EQ(exit.exit_code, 0);
  EXPECT_EQ(exit.signal, 0);
  EXPECT_FALSE(fs::exists(OutputOf(1)));
}

TEST_F(AgentTest, SignalOptionWarnsAheadOfTheTimeLimit) {
  StartAgent();
  // --signal=B:USR1@SECS with the warning due 0.5 s after the start, the limit long after:
  // the script ends on its own once warned, so it never reaches its time limit.
  TaskAssignment a = Task(1, "trap 'echo warned; exit 0' USR1\nwhile true; do sleep 0.05; done");
  a.time_limit = std::chrono::seconds(20);
  a.warning = model::SignalSpec{SIGUSR1, std::chrono::milliseconds(19500), /*batch_only=*/true};
  controller_->SetAssignments({a});
  const model::TaskExit exit = ExitOf(1);
  EXPECT_EQ(exit.exit_code, 0);
  EXPECT_FALSE(exit.timed_out);
  EXPECT_EQ(ReadFile(OutputOf(1)), "warned\n");
}

TEST_F(AgentTest, KillsWhatIsLeftWhenTheMainProcessExits) {
  StartAgent();
  controller_->SetAssignments({Task(1, "sleep 1000 &\nsetsid sleep 1000 &\nexit 0")});
  EXPECT_EQ(ExitOf(1).exit_code, 0);
  EXPECT_TRUE(WaitUntil([&] { return MarkedProcesses(MarkerOf(1)).empty(); }));
}

TEST_F(AgentTest, NeverStartsATaskTwice) {
  StartAgent();
  const TaskAssignment running = Task(1, "echo ran\nsleep 1000");
  const TaskAssignment quick = Task(2, "echo ran");
  controller_->SetAssignments({running, quick});
  ASSERT_TRUE(Running(1));
  EXPECT_EQ(ExitOf(2).exit_code, 0);
  for (int i = 0; i < 5; ++i) controller_->BumpVersion();
  // A task in the same set shows that the repeated sets were applied.
  controller_->SetAssignments({running, quick, Task(3, "true")});
  EXPECT_EQ(ExitOf(3).exit_code, 0);
  EXPECT_EQ(ReadFile(OutputOf(1)), "ran\n");
  EXPECT_EQ(ReadFile(OutputOf(2)), "ran\n");
  controller_->SetAssignments({});
  EXPECT_TRUE(ExitOf(1).killed_by_agent);
}

TEST_F(AgentTest, AcknowledgedTaskIsNotRestartedByStaleAssignments) {
  StartAgent();
  const TaskAssignment done = Task(1, "echo ran");
  controller_->SetAssignments({done});
  EXPECT_EQ(ExitOf(1).exit_code, 0);
  // Acknowledged: its directory goes away.
  ASSERT_TRUE(WaitUntil([&] { return !fs::exists(TaskDir(1)); }));
  const std::size_t reports_before = controller_->Reports().size();
  // The controller still lists it (stale); task 2 shows the set was applied.
  controller_->SetAssignments({done, Task(2, "true")});
  EXPECT_EQ(ExitOf(2).exit_code, 0);
  EXPECT_EQ(ReadFile(OutputOf(1)), "ran\n");
  const std::vector<model::NodeReport> reports = controller_->Reports();
  for (std::size_t i = reports_before; i < reports.size(); ++i) {
    for (const TaskReport& t : reports[i].tasks) EXPECT_NE(t.key.job_id, 1);
  }
  // A set that no longer lists it drops the tombstone: listed again later, it would run anew.
  controller_->SetAssignments({Task(3, "true")});
  EXPECT_EQ(ExitOf(3).exit_code, 0);
  controller_->SetAssignments({done});
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(OutputOf(1)) == "ran\nran\n"; }));
}

TEST_F(AgentTest, ExitIsPersistedAndReportedByTheNextAgent) {
  controller_->SetAcceptReports(false);
  Agent& first = StartAgent();
  controller_->SetAssignments({Task(5, "echo ran; exit 5")});
  ASSERT_TRUE(WaitUntil([&] { return Journaled(5); }));
  first.Stop();
  controller_->SetAcceptReports(true);
  StartAgent();
  EXPECT_EQ(ExitOf(5).exit_code, 5);
  EXPECT_TRUE(WaitUntil([&] { return !fs::exists(TaskDir(5)); }));
  // Still assigned, but known from the exit file: not run again.
  controller_->SetAssignments({Task(5, "echo ran; exit 5"), Task(6, "true")});
  EXPECT_EQ(ExitOf(6).exit_code, 0);
  EXPECT_EQ(ReadFile(OutputOf(5)), "ran\n");
}

TEST_F(AgentTest, TasksKeepRunningWhileTheControllerIsAway) {
  StartAgent();
  const std::string go = dir_.path() + "/go";
  controller_->SetAssignments({Task(1, "while [ ! -e go ]; do sleep 0.01; done; exit 4")});
  ASSERT_TRUE(Running(1));
  controller_->SetReachable(false);
  std::ofstream(go).put('x');
  ASSERT_TRUE(WaitUntil([&] { return Journaled(1); }));
  controller_->SetReachable(true);
  EXPECT_EQ(ExitOf(1).exit_code, 4);
}

// A node cut off from the controller stops its jobs before the controller (whose node timeout
// is longer) declares it failed and runs them elsewhere: they never run twice at once.
TEST_F(AgentTest, TasksAreFencedOnceTheControllerIsOutOfReachLongEnough) {
  fence_after_ = std::chrono::milliseconds(400);
  StartAgent();
  controller_->SetAssignments({Task(1, "sleep 300")});
  ASSERT_TRUE(Running(1));
  ASSERT_FALSE(MarkedProcesses(MarkerOf(1)).empty());
  controller_->SetReachable(false);
  EXPECT_TRUE(WaitUntil([&] { return MarkedProcesses(MarkerOf(1)).empty(); }, std::chrono::seconds(10)))
      << "the task still runs with the controller out of reach";
  controller_->SetReachable(true);
  const model::TaskExit exit = ExitOf(1);
  EXPECT_TRUE(exit.node_failed);
  EXPECT_EQ(exit.signal, SIGKILL);
}

TEST_F(AgentTest, AnAdoptedTaskStillGetsItsSignalWarning) {
  Agent& first = StartAgent();
  // The warning is due 1.5 s after the start; the first agent stops well before that.
  TaskAssignment a = Task(1, "trap 'echo warned; exit 0' USR1\nwhile true; do sleep 0.05; done");
  a.time_limit = std::chrono::seconds(20);
  a.warning = model::SignalSpec{SIGUSR1, std::chrono::milliseconds(18500), /*batch_only=*/true};
  controller_->SetAssignments({a});
  ASSERT_TRUE(Running(1));
  first.Stop();

  StartAgent();
  const model::TaskExit exit = ExitOf(1);
  EXPECT_EQ(exit.exit_code, 0);
  EXPECT_EQ(ReadFile(OutputOf(1)), "warned\n");
}

TEST_F(AgentTest, NextAgentAdoptsRunningTasks) {
  Agent& first = StartAgent();
  const TaskAssignment sleeper = Task(1, "echo ran; sleep 1000");
  const TaskAssignment waiter = Task(2, "echo ran; while [ ! -e go ]; do sleep 0.01; done; exit 6");
  controller_->SetAssignments({sleeper, waiter});
  ASSERT_TRUE(Running(1));
  ASSERT_TRUE(Running(2));
  first.Stop();  // tasks keep running
  EXPECT_FALSE(MarkedProcesses(MarkerOf(1)).empty());
  std::ofstream(dir_.path() + "/go").put('x');  // task 2 ends while no agent runs
  ASSERT_TRUE(WaitUntil([&] { return MarkedProcesses(MarkerOf(2)).empty(); }));
  const std::size_t reports_before = controller_->Reports().size();

  StartAgent();
  EXPECT_EQ(ExitOf(2).exit_code, 6);
  ASSERT_TRUE(controller_->WaitFor([&](const auto& reports) {
    for (std::size_t i = reports_before; i < reports.size(); ++i) {
      for (const TaskReport& t : reports[i].tasks) {
        if (t.key.job_id == 1 && t.phase == TaskPhase::kRunning) return true;
      }
    }
    return false;
  }));
  controller_->SetAssignments({sleeper, waiter, Task(3, "true")});
  EXPECT_EQ(ExitOf(3).exit_code, 0);
  EXPECT_EQ(ReadFile(OutputOf(1)), "ran\n");
  EXPECT_EQ(ReadFile(OutputOf(2)), "ran\n");
  controller_->SetAssignments({});
  EXPECT_TRUE(ExitOf(1).killed_by_agent);
  EXPECT_TRUE(WaitUntil([&] { return MarkedProcesses(name_ + "/").empty(); }));
}

TEST_F(AgentTest, AdoptsATaskWhoseParentIsAnotherProcess) {
  // What a crashed agent process leaves: a task whose main process now has another parent.
  // Here its parent is a shell of ours, which makes it "not our child" all the same.
  const std::string pid_file = dir_.path() + "/pid";
  LaunchSpec spec;
  spec.program = "/bin/sh";
  spec.argv = {"sh", "-c", "sleep 1000 & echo $! > " + pid_file + "; wait"};
  spec.env = {"PATH=/usr/bin:/bin", std::string(kTaskMarkerVariable) + "=" + MarkerOf(1)};
  spec.cwd = dir_.path();
  ASSERT_TRUE(ChildReaper::Instance().LaunchWatched([&] { return LaunchProcess(spec); },
                                                    [](pid_t, int) {}));
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(pid_file).ends_with("\n"); }));
  const pid_t pid = std::stoi(ReadFile(pid_file));
  ProcessInfo info;
  ASSERT_TRUE(ReadProcessInfo(pid, info));
  ASSERT_NE(info.ppid, ::getpid());
  fs::create_directories(state_dir_);
  {
    TaskJournal journal(state_dir_ + "/journal");
    ASSERT_TRUE(journal.Open([](std::vector<TaskKey>) {}));
    journal.RecordStart(RunningTaskRecord{TaskKey{1, 0, 0}, pid, info.start_ticks,
                                          FromUnixMicros(1), std::nullopt, MarkerOf(1), std::nullopt});
  }

  StartAgent();
  ASSERT_TRUE(Running(1));
  controller_->SetAssignments({});  // killed through its marker; its end is seen by polling
  const model::TaskExit exit = ExitOf(1);
  EXPECT_TRUE(exit.killed_by_agent);
  EXPECT_EQ(exit.exit_code, kUnknownExitCode);
  EXPECT_TRUE(WaitUntil([&] { return MarkedProcesses(MarkerOf(1)).empty(); }));
}

TEST_F(AgentTest, RunsManyShortTasksQuickly) {
  StartAgent();
  constexpr int kTasks = 300;
  std::vector<TaskAssignment> tasks;
  for (int i = 1; i <= kTasks; ++i) {
    TaskAssignment a = Task(i, "exit 0");
    a.output_path = "/dev/null";
    tasks.push_back(a);
  }
  const auto start = std::chrono::steady_clock::now();
  controller_->SetAssignments(tasks);
  ASSERT_TRUE(
      WaitUntil([&] { return controller_->Exits().size() == kTasks; }, std::chrono::seconds(60)));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d tasks started, exited and reported in %.2f s (%.0f tasks/s)\n", kTasks, seconds,
              kTasks / seconds);
  for (const auto& [key, report] : controller_->Exits()) EXPECT_EQ(report.exit->exit_code, 0);
}

}  // namespace
}  // namespace weft::agent
