#include "agent/process_tree.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <memory>

#include "agent/agent_test_util.h"
#include "agent/cgroup_driver.h"
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
  ASSERT_TRUE(WaitUntil([&] { return MarkedProcesses(marker).size() == 3; }));  // not mid-exec
  ProcessInfo main;
  ASSERT_TRUE(ReadProcessInfo(launched->pid, main));
  EXPECT_EQ(main.pgid, launched->pid);  // a session and process group of its own
  for (pid_t pid : FindTaskTree(query)) {
    ProcessInfo info;
    if (ReadProcessInfo(pid, info) && pid != launched->pid) {
      if (info.pgid != launched->pid) {
        // `setsid` forks when it leads its group: its parent half may be on its way out
        // (environ already gone), which is not a process of the tree any more.
        EXPECT_TRUE(WaitUntil([&] { return ReadTaskMarker(pid) == marker || !ProcessAlive(pid, info.start_ticks); }))
            << pid;
      }
    }
  }
  EXPECT_TRUE(WaitUntil([&] { return SignalTaskTree(query, SIGKILL) == 0; }));
  EXPECT_TRUE(MarkedProcesses(marker).empty());
  const int status = launched->status.get();
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_TRUE(KillMarkedProcesses(marker));
}

TEST(ProcessTreeTest, ChildStartsWithEmptyMaskDefaultDispositionsAndOnlyStdio) {
  TempDir dir;
  // What the agent's threads might have: blocked and ignored signals, an inheritable fd.
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGTERM);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);
  struct sigaction ignore {}, old_usr2 {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGUSR2, &ignore, &old_usr2), 0);
  const int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC
  ASSERT_GE(leaked, 3);
  // grep itself (sh execs a lone command) reports the mask and dispositions it was given.
  LaunchSpec signals = Shell("grep -E '^Sig(Blk|Ign)' /proc/self/status", dir);
  signals.stdout_path = dir.path() + "/signals";
  auto first = Launch(signals);
  auto second = Launch(Shell("ls /proc/$$/fd", dir));
  ::close(leaked);
  ::sigaction(SIGUSR2, &old_usr2, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(second) << second.error().message;
  first->status.get();
  second->status.get();
  EXPECT_EQ(ReadFile(dir.path() + "/signals"),
            "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
  EXPECT_EQ(ReadFile(dir.path() + "/out"), "0\n1\n2\n");
}

TEST(ProcessTreeTest, FailsWithoutRunningWhenTheCgroupCannotBeJoined) {
  TempDir dir;
  CgroupPlacement placement;
  placement.procs_files = {dir.path() + "/no-such-cgroup/cgroup.procs"};
  LaunchSpec spec = Shell("echo ran", dir);
  spec.cgroup = &placement;
  auto launched = LaunchProcess(spec);
  ASSERT_FALSE(launched);
  EXPECT_NE(launched.error().message.find("in its cgroup"), std::string::npos)
      << launched.error().message;
  EXPECT_NE(launched.error().message.find("no-such-cgroup"), std::string::npos);
  EXPECT_EQ(ReadFile(dir.path() + "/out"), "");
}

TEST(ProcessTreeTest, WritesItsOwnPidIntoEveryProcsFileBeforeExec) {
  TempDir dir;
  // Plain files stand in for cgroup.procs: the child writes its pid before exec.
  for (const char* f : {"/a.procs", "/b.procs"}) {
    std::ofstream(dir.path() + f).flush();
  }
  CgroupPlacement placement;
  placement.procs_files = {dir.path() + "/a.procs", dir.path() + "/b.procs"};
  LaunchSpec spec = Shell("echo $$", dir);
  spec.cgroup = &placement;
  auto launched = Launch(spec);
  ASSERT_TRUE(launched) << launched.error().message;
  launched->status.get();
  const std::string pid = std::to_string(launched->pid);
  EXPECT_EQ(ReadFile(dir.path() + "/a.procs"), pid);
  EXPECT_EQ(ReadFile(dir.path() + "/b.procs"), pid);
  EXPECT_EQ(ReadFile(dir.path() + "/out"), pid + "\n");
}

TEST(ProcessTreeTest, RunsWithGivenCredentials) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);  // the task's user must enter it
  LaunchSpec spec = Shell("id -u; id -g; id -G", dir);
  spec.credentials = Credentials{65534, 65534, {65534, 100}};
  auto launched = Launch(spec);
  ASSERT_TRUE(launched) << launched.error().message;
  const int status = launched->status.get();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(dir.path() + "/out");
  EXPECT_EQ(ReadFile(dir.path() + "/out"), "65534\n65534\n65534 100\n");
}

TEST(ProcessTreeTest, ReportsACwdTheTaskUserCannotEnter) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir dir;  // 0700, owned by root
  LaunchSpec spec = Shell("echo ran", dir);
  spec.stdout_path = "";
  spec.credentials = Credentials{65534, 65534, {}};
  auto launched = LaunchProcess(spec);
  ASSERT_FALSE(launched);
  EXPECT_NE(launched.error().message.find("working directory"), std::string::npos)
      << launched.error().message;
}

TEST(ProcessTreeTest, HintsAtAMissingInterpreter) {
  TempDir dir;
  const std::string script = dir.path() + "/script";
  std::ofstream(script) << "#!/no/such/interpreter\necho hi\n";
  ASSERT_EQ(::chmod(script.c_str(), 0755), 0);
  LaunchSpec spec = Shell("", dir);
  spec.program = script;
  spec.argv = {"script"};
  auto launched = LaunchProcess(spec);
  ASSERT_FALSE(launched);
  EXPECT_NE(launched.error().message.find("#! interpreter"), std::string::npos)
      << launched.error().message;
}

}  // namespace
}  // namespace weft::agent
