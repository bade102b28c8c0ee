#include "agent/task_isolation.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include <gtest/gtest.h>

#include "agent/child_reaper.h"

namespace weft::agent {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string EnvValue(const LaunchSpec& spec, const std::string& name) {
  for (const std::string& e : spec.env) {
    if (e.starts_with(name + "=")) return e.substr(name.size() + 1);
  }
  return "<unset>";
}

// Whether the agent's base cgroup `base` exists beneath this process's memory cgroup (v1) or
// its unified cgroup (v2).
bool BaseExists(const std::string& base) {
  std::istringstream in(ReadAll("/proc/self/cgroup"));
  std::string line;
  while (std::getline(in, line)) {
    const auto a = line.find(':');
    const auto b = line.find(':', a + 1);
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (controllers == "memory" && std::filesystem::exists("/sys/fs/cgroup/memory" + path + "/" + base)) return true;
    if (controllers.empty() && std::filesystem::exists("/sys/fs/cgroup" + path + "/" + base)) return true;
  }
  return false;
}

class TaskIsolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/weft-isolation-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    std::filesystem::create_directories(dir_ + "/dev");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Two "GPUs" whose device files are /dev/zero's and /dev/full's numbers: a fenced task
  // cannot read the other's, whatever the host has.
  IsolationConfig TwoGpus() {
    IsolationConfig config;
    config.gpus = {GpuDevice{0, "GPU-zero", "Fake", 1 << 30, 0}, GpuDevice{1, "GPU-full", "Fake", 1 << 30, 1}};
    config.dev_dir = dir_ + "/dev";
    ::mknod((dir_ + "/dev/nvidia0").c_str(), S_IFCHR | 0666, makedev(1, 5));
    ::mknod((dir_ + "/dev/nvidia1").c_str(), S_IFCHR | 0666, makedev(1, 7));
    return config;
  }

  model::TaskAssignment Assignment(std::vector<int> gpus) {
    model::TaskAssignment a;
    a.key = {77, 0, 0};
    a.resources = {1000, 64 << 20, static_cast<std::int64_t>(gpus.size())};
    a.gpu_ids = std::move(gpus);
    return a;
  }

  LaunchSpec Shell(const std::string& command) {
    LaunchSpec spec;
    spec.program = "/bin/sh";
    spec.argv = {"sh", "-c", command};
    spec.env = {"PATH=/usr/bin:/bin", "CUDA_VISIBLE_DEVICES=1"};
    spec.cwd = dir_;
    spec.stdout_path = dir_ + "/out";
    return spec;
  }

  int Run(const LaunchSpec& spec) {
    std::promise<int> done;
    auto pid = ChildReaper::Instance().LaunchWatched([&] { return LaunchProcess(spec); },
                                                     [&](pid_t, int status) { done.set_value(status); });
    EXPECT_TRUE(pid) << pid.error().message;
    if (!pid) return -1;
    return done.get_future().get();
  }

  std::string dir_;
};

// A task sees only its GPUs: the others' device files are denied (devices controller) and
// CUDA_VISIBLE_DEVICES counts its own from 0, as Slurm's ConstrainDevices does.
TEST_F(TaskIsolationTest, FencedTaskCannotOpenOtherGpusAndCountsItsOwnFromZero) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for cgroups and mknod";
  const std::string base = "weft-isotest-" + std::to_string(::getpid());
  auto isolation = TaskIsolation::Create(TwoGpus(), base);
  ASSERT_TRUE(isolation) << isolation.error().message;
  if (!(*isolation)->Describe().devices) GTEST_SKIP() << "no devices controller on this host";
  const std::string dev = dir_ + "/dev";
  LaunchSpec spec = Shell("for g in 0 1; do head -c 1 " + dev + "/nvidia$g >/dev/null 2>&1 && echo gpu$g=open || "
                          "echo gpu$g=denied; done; echo visible=$CUDA_VISIBLE_DEVICES");
  const model::TaskAssignment a = Assignment({1});
  auto placement = (*isolation)->Prepare(a, "", spec);
  ASSERT_TRUE(placement) << placement.error().message;
  spec.cgroup = &*placement;
  EXPECT_EQ(EnvValue(spec, "CUDA_DEVICE_ORDER"), "PCI_BUS_ID");

  const int status = Run(spec);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(ReadAll(dir_ + "/out"), "gpu0=denied\ngpu1=open\nvisible=0\n");
  (*isolation)->Cleanup(a.key);
  (*isolation)->Close();  // waits for the janitor, then removes the emptied base
  EXPECT_FALSE(BaseExists(base));
}

// An agent that stops removes the cgroups of tasks that ended (their sweep had not run yet)
// and keeps those whose processes still run, for the next agent to adopt.
TEST_F(TaskIsolationTest, CloseRemovesEndedTasksCgroupsAndKeepsLiveOnes) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for cgroups";
  const std::string base = "weft-isotest3-" + std::to_string(::getpid());
  IsolationConfig config;
  auto isolation = TaskIsolation::Create(config, base);
  ASSERT_TRUE(isolation) << isolation.error().message;
  if (!(*isolation)->Describe().memory) GTEST_SKIP() << "no memory controller here";
  model::TaskAssignment ended = Assignment({});
  LaunchSpec done_spec = Shell("true");
  auto done_placement = (*isolation)->Prepare(ended, "", done_spec);
  ASSERT_TRUE(done_placement) << done_placement.error().message;
  done_spec.cgroup = &*done_placement;
  ASSERT_EQ(Run(done_spec), 0);
  model::TaskAssignment live = Assignment({});
  live.key = {78, 0, 0};
  LaunchSpec live_spec = Shell("exec sleep 300");
  auto live_placement = (*isolation)->Prepare(live, "", live_spec);
  ASSERT_TRUE(live_placement) << live_placement.error().message;
  live_spec.cgroup = &*live_placement;
  std::promise<int> live_exit;
  auto pid = ChildReaper::Instance().LaunchWatched([&] { return LaunchProcess(live_spec); },
                                                   [&](pid_t, int status) { live_exit.set_value(status); });
  ASSERT_TRUE(pid) << pid.error().message;

  (*isolation)->Close();  // no Cleanup of either: the agent stops
  EXPECT_FALSE(BaseExists(base + "/" + TaskIsolation::CgroupName(ended.key)));
  EXPECT_TRUE(BaseExists(base + "/" + TaskIsolation::CgroupName(live.key)));

  ::kill(*pid, SIGKILL);
  live_exit.get_future().wait();
  auto next = TaskIsolation::Create(config, base);  // the next agent collects it
  ASSERT_TRUE(next) << next.error().message;
  (*next)->Close();
  EXPECT_FALSE(BaseExists(base));
}

// Without fencing the task is told its GPUs by their real indices.
TEST_F(TaskIsolationTest, UnfencedGpusKeepTheirRealIndices) {
  IsolationConfig config = TwoGpus();
  config.cgroups = false;
  TaskIsolation isolation(config, nullptr);
  EXPECT_FALSE(isolation.Describe().devices);
  LaunchSpec spec = Shell("true");
  auto placement = isolation.Prepare(Assignment({1}), "", spec);
  ASSERT_TRUE(placement) << placement.error().message;
  EXPECT_TRUE(placement->empty());
  EXPECT_EQ(EnvValue(spec, "CUDA_VISIBLE_DEVICES"), "1");
  // Fake slots (no GPUs discovered): the controller's numbering stands.
  TaskIsolation slots(IsolationConfig{}, nullptr);
  LaunchSpec plain = Shell("true");
  ASSERT_TRUE(slots.Prepare(Assignment({1}), "", plain));
  EXPECT_EQ(EnvValue(plain, "CUDA_VISIBLE_DEVICES"), "1");
}

// A root agent runs a task as its owner, with the owner's identity; never as root for a job
// without one, and not at all for a user unknown to the node.
TEST_F(TaskIsolationTest, TasksRunAsTheirOwner) {
  IsolationConfig config;
  config.cgroups = false;
  config.run_as_owner = true;
  TaskIsolation isolation(config, nullptr);
  EXPECT_TRUE(isolation.Describe().user);

  model::TaskAssignment a = Assignment({});
  LaunchSpec none = Shell("true");
  auto refused = isolation.Prepare(a, "", none);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("root"), std::string::npos) << refused.error().message;

  a.user = "no-such-user-weft";
  LaunchSpec unknown = Shell("true");
  auto missing = isolation.Prepare(a, "", unknown);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("no-such-user-weft"), std::string::npos);

  a.user = "nobody";
  LaunchSpec spec = Shell("true");
  spec.stdout_path = "/dev/null";  // an existing path is never handed to the owner
  spec.stderr_path = dir_ + "/err";  // a new one is created for it
  struct stat before {};
  ASSERT_EQ(::stat("/dev/null", &before), 0);
  ASSERT_TRUE(isolation.Prepare(a, "", spec));
  struct stat after {};
  ASSERT_EQ(::stat("/dev/null", &after), 0);
  EXPECT_EQ(after.st_uid, before.st_uid);
  struct stat err {};
  ASSERT_EQ(::stat((dir_ + "/err").c_str(), &err), 0);
  EXPECT_EQ(err.st_uid, ::geteuid() == 0 ? 65534u : ::geteuid());
  ASSERT_TRUE(spec.credentials.has_value());
  EXPECT_EQ(spec.credentials->uid, 65534u);
  EXPECT_EQ(EnvValue(spec, "USER"), "nobody");
  EXPECT_EQ(EnvValue(spec, "LOGNAME"), "nobody");
  EXPECT_NE(EnvValue(spec, "HOME"), "<unset>");
}

// Limits come from the assignment: memory per node, CPUs as bandwidth, the pids default.
TEST_F(TaskIsolationTest, CgroupLimitsFollowTheRequest) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for cgroups";
  IsolationConfig config;
  config.pids_limit = 123;
  const std::string base = "weft-isotest2-" + std::to_string(::getpid());
  auto isolation = TaskIsolation::Create(config, base);
  ASSERT_TRUE(isolation) << isolation.error().message;
  const model::NodeIsolation enforced = (*isolation)->Describe();
  if (!enforced.memory || !enforced.pids) GTEST_SKIP() << "this host enforces " << model::ToString(enforced);
  LaunchSpec spec = Shell("cat /proc/self/cgroup");
  const model::TaskAssignment a = Assignment({});
  auto placement = (*isolation)->Prepare(a, "", spec);
  ASSERT_TRUE(placement) << placement.error().message;
  spec.cgroup = &*placement;
  const int status = Run(spec);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_NE(ReadAll(dir_ + "/out").find(TaskIsolation::CgroupName(a.key)), std::string::npos);
  auto usage = (*isolation)->Usage(a.key);
  ASSERT_TRUE(usage.has_value());
  EXPECT_EQ(usage->memory_limit_bytes, 64 << 20);
  EXPECT_FALSE((*isolation)->OomKilled(a.key));
  (*isolation)->Cleanup(a.key);
  (*isolation)->Close();  // waits for the janitor, then removes the emptied base
  EXPECT_FALSE(BaseExists(base));
}

}  // namespace
}  // namespace weft::agent
