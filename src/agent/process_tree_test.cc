#include "agent/process_tree.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <future>
#include <memory>

#include "agent/agent_test_util.h"
#include "agent/child_reaper.h"

namespace weft::agent {
namespace {

using testing::KillMarkedProcesses;
using testing::Lines;
using testing::MarkedProcesses;
using testing::ReadFile;
using testing::TempDir;
using testing::WaitUntil;

// Launches through the process-wide reaper (which reaps every child of this process) and
// returns the pid and a future wait status.
struct Launched {
  pid_t pid = 0;
  std::future<int> status;
};
Result<Launched> Launch(const LaunchSpec& spec) {
  auto promise = std::make_shared<std::promise<int>>();
  Launched launched;
  launched.status = promise->get_future();
  auto pid = ChildReaper::Instance().LaunchWatched(
      [&] { return LaunchProcess(spec); },
      [promise](pid_t, int status) { promise->set_value(status); });
  if (!pid) return tl::unexpected(pid.error());
  launched.pid = *pid;
  return launched;
}

LaunchSpec Shell(const std::string& command, const TempDir& dir) {
  LaunchSpec spec;
  spec.program = "/bin/sh";
  spec.argv = {"sh", "-c", command};
  spec.env = {"PATH=/usr/bin:/bin", "ONLY=this"};
  spec.cwd = dir.path();
  spec.stdout_path = dir.path() + "/out";
  return spec;
}

TEST(ProcessTreeTest, ReadsOwnStat) {
  ProcessInfo info;
  ASSERT_TRUE(ReadProcessInfo(::getpid(), info));
  EXPECT_EQ(info.pid, ::getpid());
  EXPECT_EQ(info.ppid, ::getppid());
  EXPECT_EQ(info.pgid, ::getpgrp());
  EXPECT_GT(info.start_ticks, 0u);
  EXPECT_TRUE(ProcessAlive(::getpid(), info.start_ticks));
  EXPECT_FALSE(ProcessAlive(::getpid(), info.start_ticks + 1));
}

TEST(ProcessTreeTest, LaunchesInNewSessionWithGivenEnvironmentAndFiles) {
  TempDir dir;
  LaunchSpec spec = Shell("echo out; echo err >&2; pwd; echo $ONLY", dir);
  spec.stderr_path = dir.path() + "/err";
  auto launched = Launch(spec);
  ASSERT_TRUE(launched) << launched.error().message;
  const int status = launched->status.get();
  ASSERT_TRUE(WIFEXITED(status));
  const std::vector<std::string> lines = Lines(ReadFile(dir.path() + "/out"));
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[0], "out");
  EXPECT_EQ(lines[1], dir.path());
  EXPECT_EQ(lines[2], "this");
  EXPECT_EQ(ReadFile(dir.path() + "/err"), "err\n");
}

TEST(ProcessTreeTest, AppendsToOutputAndMergesStderr) {
  TempDir dir;
  for (int i = 0; i < 2; ++i) {
    auto launched = Launch(Shell("echo out; echo err >&2", dir));
    ASSERT_TRUE(launched);
    launched->status.get();
  }
  EXPECT_EQ(ReadFile(dir.path() + "/out"), "out\nerr\nout\nerr\n");
}

TEST(ProcessTreeTest, FailsClearlyBeforeRunningAnything) {
  TempDir dir;
  LaunchSpec bad_cwd = Shell("true", dir);
  bad_cwd.cwd = dir.path() + "/missing";
  auto r1 = LaunchProcess(bad_cwd);
  ASSERT_FALSE(r1);
  EXPECT_NE(r1.error().message.find("working directory"), std::string::npos);

  LaunchSpec bad_output = Shell("true", dir);
  bad_output.stdout_path = dir.path() + "/missing/out";
  auto r2 = LaunchProcess(bad_output);
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message.find("cannot open output file"), std::string::npos);

  LaunchSpec bad_program = Shell("true", dir);
  bad_program.program = dir.path() + "/no-such-program";
  auto r3 = LaunchProcess(bad_program);
  ASSERT_FALSE(r3);
  EXPECT_NE(r3.error().message.find("cannot execute"), std::string::npos);
}

TEST(ProcessTreeTest, FindsAndKillsEscapedDescendantsByMarker) {
  TempDir dir;
  const std::string marker = "tree-test-" + std::to_string(::getpid()) + "/1.0";
  LaunchSpec spec = Shell("setsid sleep 1000 & sleep 1000", dir);
  spec.env.push_back(std::string(kTaskMarkerVariable) + "=" + marker);
  auto launched = Launch(spec);
  ASSERT_TRUE(launched);
  const TreeQuery query{launched->pid, launched->pid, marker, false, nullptr};
  // sh, its sleep, and the setsid'd sleep in a session of its own.
  ASSERT_TRUE(WaitUntil([&] { return FindTaskTree(query).size() == 3; }));
  ASSERT_EQ(MarkedProcesses(marker).size(), 3u);
  ProcessInfo main;
  ASSERT_TRUE(ReadProcessInfo(launched->pid, main));
  EXPECT_EQ(main.pgid, launched->pid);  // a session and process group of its own
  for (pid_t pid : FindTaskTree(query)) {
    ProcessInfo info;
    if (ReadProcessInfo(pid, info) && pid != launched->pid) {
      if (info.pgid != launched->pid) {
        EXPECT_EQ(ReadTaskMarker(pid), marker);
      }
    }
  }
  EXPECT_TRUE(WaitUntil([&] { return SignalTaskTree(query, SIGKILL) == 0; }));
  EXPECT_TRUE(MarkedProcesses(marker).empty());
  const int status = launched->status.get();
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_TRUE(KillMarkedProcesses(marker));
}

}  // namespace
}  // namespace weft::agent
