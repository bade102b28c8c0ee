#include "agent/cgroup_driver.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <sstream>

#include "agent/agent_test_util.h"
#include "agent/child_reaper.h"
#include "agent/process_tree.h"

namespace weft::agent {
namespace {

using testing::Lines;
using testing::ReadFile;
using testing::TempDir;
using testing::WaitUntil;

std::string UniqueBase() {
  static std::atomic<int> counter{0};
  return "weft-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void WriteText(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

// The mount point of the v1 hierarchy holding `controller` (from /proc/self/mountinfo).
std::string V1Mount(const std::string& controller) {
  std::istringstream in(ReadFile("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t dash = line.find(" - cgroup ");
    if (dash == std::string::npos) continue;
    std::istringstream head(line.substr(0, dash));
    std::string f, mount_point;
    for (int i = 0; i < 5 && head >> f; ++i) mount_point = f;
    std::istringstream tail(line.substr(dash + 10));
    std::string source, options;
    tail >> source >> options;
    std::istringstream opts(options);
    while (std::getline(opts, f, ',')) {
      if (f == controller) return mount_point;
    }
  }
  return "";
}

// This process's cgroup path for `controller` ("" = v2) from /proc/self/cgroup.
std::string OwnPath(const std::string& controller) {
  for (const std::string& line : Lines(ReadFile("/proc/self/cgroup"))) {
    const std::size_t a = line.find(':');
    const std::size_t b = line.find(':', a + 1);
    std::istringstream names(line.substr(a + 1, b - a - 1));
    std::string name;
    if (controller.empty() && a + 1 == b) return line.substr(b + 1);
    while (std::getline(names, name, ',')) {
      if (name == controller) return line.substr(b + 1);
    }
  }
  return "";
}

// A driver under test plus where its control files lie, removed with its cgroups at the end.
struct DriverUnderTest {
  std::unique_ptr<CgroupDriver> driver;
  std::string base;
  bool fake = false;
  std::unique_ptr<TempDir> tree;
  // Directory of task `name` in the hierarchy of `controller` ("" for v2).
  std::function<std::string(const std::string& controller, const std::string& name)> dir;

  ~DriverUnderTest() {
    if (!driver) return;
    for (const std::string& name : driver->List()) {
      driver->KillAll(name);
      WaitUntil([&] { return static_cast<bool>(driver->Remove(name)); });
    }
    driver->DrainPool();
    (void)driver->RemoveBase();
  }
};

using Factory = std::function<std::unique_ptr<DriverUnderTest>()>;

std::unique_ptr<DriverUnderTest> FakeV2(int node_cpus = 0) {
  auto t = std::make_unique<DriverUnderTest>();
  t->fake = true;
  t->base = UniqueBase();
  t->tree = std::make_unique<TempDir>();
  const std::string mount = t->tree->path() + "/unified";
  WriteText(mount + "/agent.slice/cgroup.controllers", "cpuset cpu io memory pids\n");
  WriteText(mount + "/agent.slice/cgroup.subtree_control", "");
  CgroupOptions options;
  options.base_name = t->base;
  options.fake_fs = true;
  options.node_cpus = node_cpus;
  t->driver = MakeCgroupV2Driver(mount, "/agent.slice", options);
  t->dir = [mount, base = t->base](const std::string&, const std::string& name) {
    return mount + "/agent.slice/" + base + "/" + name;
  };
  return t;
}

std::unique_ptr<DriverUnderTest> FakeV1(int node_cpus = 0) {
  auto t = std::make_unique<DriverUnderTest>();
  t->fake = true;
  t->base = UniqueBase();
  t->tree = std::make_unique<TempDir>();
  const std::string root = t->tree->path();
  std::map<std::string, std::string> mounts, own;
  for (const char* c : {"memory", "cpu", "cpuacct", "pids", "cpuset", "devices", "freezer"}) {
    mounts[c] = root + "/" + c;
    own[c] = "/nested";
  }
  mounts["cpuacct"] = root + "/cpu";  // co-mounted "cpu,cpuacct"
  WriteText(root + "/memory/nested/memory.limit_in_bytes", "9223372036854771712\n");
  WriteText(root + "/memory/nested/memory.memsw.limit_in_bytes", "9223372036854771712\n");
  WriteText(root + "/cpu/nested/cpu.cfs_quota_us", "-1\n");
  WriteText(root + "/pids/nested/pids.max", "max\n");
  WriteText(root + "/cpuset/nested/cpuset.cpus", "0-3\n");
  WriteText(root + "/cpuset/nested/cpuset.mems", "0\n");
  WriteText(root + "/devices/nested/devices.deny", "");
  std::filesystem::create_directories(root + "/freezer/nested");
  CgroupOptions options;
  options.base_name = t->base;
  options.fake_fs = true;
  options.node_cpus = node_cpus;
  t->driver = MakeCgroupV1Driver(mounts, own, options);
  t->dir = [root, base = t->base](const std::string& controller, const std::string& name) {
    return root + "/" + (controller == "cpuacct" ? "cpu" : controller) + "/nested/" + base + "/" +
           name;
  };
  return t;
}

// The host's real cgroups, as DetectCgroupDriver finds them, if of `version`.
std::unique_ptr<DriverUnderTest> Real(const std::string& version) {
  if (::geteuid() != 0) return nullptr;
  auto t = std::make_unique<DriverUnderTest>();
  t->base = UniqueBase();
  CgroupOptions options;
  options.base_name = t->base;
  auto driver = DetectCgroupDriver(options);
  if (!driver) return nullptr;
  if ((*driver)->Version() != version) {
    (void)(*driver)->RemoveBase();  // detection created it
    return nullptr;
  }
  t->driver = std::move(*driver);
  if (version == "v1") {
    t->dir = [base = t->base](const std::string& controller, const std::string& name) {
      return V1Mount(controller) + OwnPath(controller) + "/" + base + "/" + name;
    };
  } else {
    t->dir = [base = t->base](const std::string&, const std::string& name) {
      std::string mount;
      std::istringstream in(ReadFile("/proc/self/mountinfo"));
      std::string line;
      while (std::getline(in, line)) {
        if (line.find(" - cgroup2 ") == std::string::npos) continue;
        std::istringstream head(line);
        std::string f;
        for (int i = 0; i < 5 && head >> f; ++i) mount = f;
        break;
      }
      return mount + OwnPath("") + "/" + base + "/" + name;
    };
  }
  return t;
}

struct DriverParam {
  std::string label;
  Factory make;
};

class CgroupDriverContractTest : public ::testing::TestWithParam<DriverParam> {
 protected:
  void SetUp() override {
    t_ = GetParam().make();
    if (!t_) GTEST_SKIP() << GetParam().label << " cgroups are not available here (or not root)";
  }
  std::unique_ptr<DriverUnderTest> t_;
};

TEST_P(CgroupDriverContractTest, CreatesIdempotentlyListsAndRemoves) {
  CgroupDriver& d = *t_->driver;
  EXPECT_FALSE(d.Exists("task-1"));
  ASSERT_TRUE(d.Create("task-1", {})) << d.Describe("task-1");
  EXPECT_TRUE(d.Exists("task-1"));
  auto again = d.Create("task-1", {});  // adoption: reused
  ASSERT_TRUE(again) << again.error().message;
  ASSERT_TRUE(d.Create("task-2", {}));
  EXPECT_EQ(d.List(), (std::vector<std::string>{"task-1", "task-2"}));
  EXPECT_TRUE(d.Pids("task-1").empty());
  auto usage = d.Usage("task-1");
  ASSERT_TRUE(usage) << usage.error().message;
  EXPECT_EQ(usage->oom_kills, 0);
  EXPECT_EQ(usage->pids_current, 0);
  ASSERT_TRUE(d.Remove("task-1"));
  EXPECT_FALSE(d.Exists("task-1"));
  EXPECT_TRUE(d.Remove("task-1"));  // already gone: fine
  EXPECT_FALSE(d.Usage("task-1"));
  EXPECT_FALSE(d.Placement("task-1"));
  EXPECT_EQ(d.List(), (std::vector<std::string>{"task-2"}));
}

// The pool: where counters can be reset (v1), an ended task's cgroup is parked, unlisted, and
// the next Create takes it over with its own limits; elsewhere Recycle refuses and leaves it.
TEST_P(CgroupDriverContractTest, RecyclesAnEmptyCgroupForTheNextTask) {
  CgroupDriver& d = *t_->driver;
  CgroupLimits first;
  first.memory_bytes = 32 << 20;
  first.pids_max = 7;
  first.cpuset_cpus = "0";
  ASSERT_TRUE(d.Create("task-old", first));
  const auto recycled = d.Recycle("task-old");
  if (d.Version() != "v1") {
    ASSERT_FALSE(recycled);
    EXPECT_EQ(recycled.error().code, ErrorCode::kUnimplemented);
    EXPECT_TRUE(d.Exists("task-old"));  // left for Remove
    return;
  }
  ASSERT_TRUE(recycled) << recycled.error().message;
  EXPECT_FALSE(d.Exists("task-old"));
  EXPECT_TRUE(d.List().empty());  // parked cgroups are not leftovers
  EXPECT_FALSE(d.Recycle("task-old"));
  // The very directory carries over to the next task (same inode, renamed), with what was in it.
  const std::string old_dir = t_->dir("memory", "task-old");
  auto inode = [](const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
  };
  const ino_t old_inode = inode(old_dir);
  ASSERT_NE(old_inode, 0u);
  if (t_->fake) WriteText(old_dir + "/marker", "old");
  CgroupLimits second;
  second.memory_bytes = 64 << 20;
  ASSERT_TRUE(d.Create("task-new", second));
  EXPECT_FALSE(std::filesystem::exists(old_dir));
  EXPECT_FALSE(std::filesystem::exists(t_->dir("cpuset", "task-old")));
  if (t_->fake) {
    EXPECT_EQ(Trim(ReadFile(t_->dir("memory", "task-new") + "/marker")), "old");
  }
  EXPECT_EQ(inode(t_->dir("memory", "task-new")), old_inode);
  EXPECT_EQ(Trim(ReadFile(t_->dir("memory", "task-new") + "/memory.limit_in_bytes")), "67108864");
  EXPECT_EQ(Trim(ReadFile(t_->dir("pids", "task-new") + "/pids.max")), "max");
  // Not pinned this time: a cpuset that came along spans the parent's CPUs again.
  if (const std::string cpuset = t_->dir("cpuset", "task-new"); std::filesystem::exists(cpuset)) {
    const auto parent = std::filesystem::path(cpuset).parent_path();
    EXPECT_EQ(Trim(ReadFile(cpuset + "/cpuset.cpus")), Trim(ReadFile(parent / "cpuset.cpus")));
  }
  EXPECT_EQ(d.List(), (std::vector<std::string>{"task-new"}));
  // Parked ones go with DrainPool, so the base can be removed.
  ASSERT_TRUE(d.Recycle("task-new"));
  d.DrainPool();
  EXPECT_TRUE(d.List().empty());
  EXPECT_TRUE(d.RemoveBase());
}

// A task requeued onto the node that ran it takes its own parked cgroup back, limits and all;
// a task of the same shape reusing one gets the same limits as a fresh cgroup.
TEST_P(CgroupDriverContractTest, ParkedCgroupServesItsOwnTaskAgainAndTasksOfTheSameShape) {
  CgroupDriver& d = *t_->driver;
  if (d.Version() != "v1") GTEST_SKIP() << "only v1 parks cgroups";
  CgroupLimits shape;
  shape.memory_bytes = 48 << 20;
  shape.pids_max = 9;
  shape.cpus = 1.0;
  ASSERT_TRUE(d.Create("task-a", shape));
  ASSERT_TRUE(d.Recycle("task-a"));
  ASSERT_TRUE(d.Create("task-a", shape));
  EXPECT_TRUE(d.Exists("task-a"));
  EXPECT_EQ(d.List(), (std::vector<std::string>{"task-a"}));
  ASSERT_TRUE(d.Recycle("task-a"));
  ASSERT_TRUE(d.Create("task-b", shape));
  EXPECT_FALSE(std::filesystem::exists(t_->dir("memory", "task-a")));
  EXPECT_EQ(Trim(ReadFile(t_->dir("memory", "task-b") + "/memory.limit_in_bytes")), "50331648");
  EXPECT_EQ(Trim(ReadFile(t_->dir("pids", "task-b") + "/pids.max")), "9");
  EXPECT_EQ(Trim(ReadFile(t_->dir("cpu", "task-b") + "/cpu.cfs_quota_us")), "100000");
  EXPECT_EQ(d.List(), (std::vector<std::string>{"task-b"}));
}

TEST_P(CgroupDriverContractTest, RejectsInvalidNames) {
  CgroupDriver& d = *t_->driver;
  for (const char* bad : {"", ".", "..", "../escape", "a/b", "a b"}) {
    EXPECT_FALSE(d.Create(bad, {})) << bad;
    EXPECT_FALSE(d.Exists(bad)) << bad;
  }
}

TEST_P(CgroupDriverContractTest, ReportsSupportOfTheCoreControllers) {
  const IsolationSupport& s = t_->driver->Support();
  EXPECT_TRUE(s.memory);
  EXPECT_TRUE(s.cpu);
  EXPECT_TRUE(s.pids);
  EXPECT_TRUE(s.cpuset);
  if (t_->driver->Version() == "v1") {
    EXPECT_TRUE(s.devices);
  } else {
    EXPECT_FALSE(s.devices);  // no BPF device program yet: said so
    EXPECT_FALSE(s.problems.empty());
  }
}

TEST_P(CgroupDriverContractTest, WritesLimits) {
  CgroupDriver& d = *t_->driver;
  CgroupLimits limits;
  limits.memory_bytes = 32 << 20;
  limits.cpus = 1.5;
  limits.pids_max = 7;
  limits.cpuset_cpus = "0";
  limits.denied_devices = {DeviceId{'c', 1, 7}};  // /dev/loop-control-ish: harmless
  ASSERT_TRUE(d.Create("limited", limits));
  auto read = [&](const std::string& controller, const std::string& file) {
    return Trim(ReadFile(t_->dir(controller, "limited") + "/" + file));
  };
  if (d.Version() == "v2") {
    EXPECT_EQ(read("", "memory.max"), "33554432");
    if (t_->fake || std::filesystem::exists(t_->dir("", "limited") + "/memory.swap.max")) {
      EXPECT_EQ(read("", "memory.swap.max"), "0");
    }
    EXPECT_EQ(read("", "cpu.max"), "150000 100000");
    EXPECT_EQ(read("", "cpu.weight"), "59");  // Kubernetes' conversion of 1536 shares
    EXPECT_EQ(read("", "pids.max"), "7");
    EXPECT_EQ(read("", "cpuset.cpus"), "0");
  } else {
    EXPECT_EQ(read("memory", "memory.limit_in_bytes"), "33554432");
    EXPECT_EQ(read("memory", "memory.memsw.limit_in_bytes"), "33554432");
    EXPECT_EQ(read("cpu", "cpu.cfs_quota_us"), "150000");
    EXPECT_EQ(read("cpu", "cpu.cfs_period_us"), "100000");
    EXPECT_EQ(read("cpu", "cpu.shares"), "1536");  // weighed by the CPUs asked for
    EXPECT_EQ(read("pids", "pids.max"), "7");
    EXPECT_EQ(read("cpuset", "cpuset.cpus"), "0");
    EXPECT_EQ(
        read("cpuset", "cpuset.mems"),
        t_->fake ? "0" : Trim(ReadFile(V1Mount("cpuset") + OwnPath("cpuset") + "/cpuset.mems")));
    if (t_->fake) {
      EXPECT_EQ(read("devices", "devices.deny"), "c 1:7 rwm");
    } else {
      EXPECT_EQ(read("devices", "devices.list").find("c 1:7 "), std::string::npos);
    }
  }
  // Adoption with other limits rewrites them (raising memory past the old memsw too).
  limits.memory_bytes = 64 << 20;
  limits.cpus = std::nullopt;
  limits.pids_max = std::nullopt;
  ASSERT_TRUE(d.Create("limited", limits));
  if (d.Version() == "v2") {
    EXPECT_EQ(read("", "memory.max"), "67108864");
    EXPECT_EQ(read("", "cpu.max"), "max 100000");
    EXPECT_EQ(read("", "cpu.weight"), "100");
    EXPECT_EQ(read("", "pids.max"), "max");
  } else {
    EXPECT_EQ(read("memory", "memory.limit_in_bytes"), "67108864");
    EXPECT_EQ(read("memory", "memory.memsw.limit_in_bytes"), "67108864");
    EXPECT_EQ(read("cpu", "cpu.cfs_quota_us"), "-1");
    EXPECT_EQ(read("cpu", "cpu.shares"), "1024");
    EXPECT_EQ(read("pids", "pids.max"), "max");
  }
}

TEST_P(CgroupDriverContractTest, PlacementNamesWhereTheChildJoins) {
  CgroupDriver& d = *t_->driver;
  ASSERT_TRUE(d.Create("placed", {}));
  auto placement = d.Placement("placed");
  ASSERT_TRUE(placement) << placement.error().message;
  ASSERT_FALSE(placement->procs_files.empty());
  for (const std::string& f : placement->procs_files) {
    EXPECT_TRUE(f.ends_with("/" + t_->base + "/placed/cgroup.procs")) << f;
  }
  if (d.Version() == "v2") {
    EXPECT_GE(placement->v2_dir_fd, 0);
    CgroupPlacement moved = std::move(*placement);
    EXPECT_EQ(placement->v2_dir_fd, -1);
    EXPECT_GE(moved.v2_dir_fd, 0);
  } else {
    // Every task joins memory, cpu, cpuacct and pids (cpu,cpuacct co-mounted in the fake);
    // cpuset only to be pinned, devices only to be denied some, the freezer never.
    EXPECT_EQ(placement->procs_files.size(), t_->fake ? 3u : 4u);
    CgroupLimits fenced;
    fenced.cpuset_cpus = "0";
    fenced.denied_devices = {DeviceId{'c', 1, 7}};
    ASSERT_TRUE(d.Create("pinned", fenced));
    auto pinned = d.Placement("pinned");
    ASSERT_TRUE(pinned);
    EXPECT_EQ(pinned->procs_files.size(), t_->fake ? 5u : 6u);
  }
}

TEST_P(CgroupDriverContractTest, LaunchedProcessIsInItsCgroupFromItsFirstInstruction) {
  if (t_->fake) GTEST_SKIP() << "needs a real cgroup filesystem";
  CgroupDriver& d = *t_->driver;
  ASSERT_TRUE(d.Create("inside", {}));
  auto placement = d.Placement("inside");
  ASSERT_TRUE(placement);
  TempDir dir;
  LaunchSpec spec;
  spec.program = "/bin/cat";
  spec.argv = {"cat", "/proc/self/cgroup"};
  spec.cwd = dir.path();
  spec.stdout_path = dir.path() + "/out";
  spec.cgroup = &*placement;
  std::promise<int> done;
  auto pid = ChildReaper::Instance().LaunchWatched(
      [&] { return LaunchProcess(spec); }, [&](pid_t, int status) { done.set_value(status); });
  ASSERT_TRUE(pid) << pid.error().message;
  const int status = done.get_future().get();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::string suffix = "/" + t_->base + "/inside";
  int matched = 0;
  for (const std::string& line : Lines(ReadFile(dir.path() + "/out"))) {
    const std::size_t a = line.find(':');
    const std::size_t b = line.find(':', a + 1);
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    const bool wanted =
        d.Version() == "v2"
            ? controllers.empty()
            : (controllers == "memory" || controllers == "cpu" || controllers == "pids" ||
               controllers == "cpuacct");
    if (!wanted) continue;
    EXPECT_TRUE(path.ends_with(suffix)) << line;
    ++matched;
  }
  EXPECT_EQ(matched, d.Version() == "v2" ? 1 : 4);
  EXPECT_TRUE(WaitUntil([&] { return static_cast<bool>(d.Remove("inside")); }));
}

INSTANTIATE_TEST_SUITE_P(Drivers, CgroupDriverContractTest,
                         ::testing::Values(DriverParam{"FakeV2", [] { return FakeV2(); }},
                                           DriverParam{"FakeV1", [] { return FakeV1(); }},
                                           DriverParam{"RealV1", [] { return Real("v1"); }},
                                           DriverParam{"RealV2", [] { return Real("v2"); }}),
                         [](const ::testing::TestParamInfo<DriverParam>& param_info) {
                           return param_info.param.label;
                         });

// The agent's base weighs as many CPUs as the node offers, as Kubernetes weighs its pods'
// slice: tasks put in cgroups keep the share they had as plain processes.
TEST(CgroupWeightTest, BaseWeighsTheNodesCpus) {
  auto v1 = FakeV1(4);
  EXPECT_EQ(Trim(ReadFile(v1->dir("cpu", "") + "/cpu.shares")), "4096");
  auto v2 = FakeV2(4);
  EXPECT_EQ(Trim(ReadFile(v2->dir("", "") + "/cpu.weight")), "157");
}

// Enforcement, on whichever real hierarchy this host has.
class CgroupEnforcementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    t_ = Real("v2");
    if (!t_) t_ = Real("v1");
    if (!t_) GTEST_SKIP() << "no real cgroups here (or not root)";
  }

  struct Running {
    pid_t pid = 0;
    std::shared_ptr<std::promise<int>> status = std::make_shared<std::promise<int>>();
    std::future<int> exit = status->get_future();
  };

  // Runs `command` with sh in a fresh task cgroup `name` with `limits`.
  Result<Running> Start(const std::string& name, const CgroupLimits& limits,
                        const std::string& command) {
    if (auto r = t_->driver->Create(name, limits); !r) return tl::unexpected(r.error());
    auto placement = t_->driver->Placement(name);
    if (!placement) return tl::unexpected(placement.error());
    LaunchSpec spec;
    spec.program = "/bin/sh";
    spec.argv = {"sh", "-c", command};
    spec.env = {"PATH=/usr/bin:/bin"};
    spec.cwd = dir_.path();
    spec.stdout_path = dir_.path() + "/" + name + ".out";
    spec.cgroup = &*placement;
    Running running;
    auto promise = running.status;
    auto pid = ChildReaper::Instance().LaunchWatched(
        [&] { return LaunchProcess(spec); },
        [promise](pid_t, int status) { promise->set_value(status); });
    if (!pid) return tl::unexpected(pid.error());
    running.pid = *pid;
    return running;
  }

  std::unique_ptr<DriverUnderTest> t_;
  TempDir dir_;
};

TEST_F(CgroupEnforcementTest, MemoryLimitOomKillsAndIsCounted) {
  CgroupLimits limits;
  limits.memory_bytes = 32 << 20;
  auto run =
      Start("oom", limits, "exec /usr/bin/perl -e '$x = \"a\" x (200 << 20); print length $x'");
  ASSERT_TRUE(run) << run.error().message;
  const int status = run->exit.get();
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  auto usage = t_->driver->Usage("oom");
  ASSERT_TRUE(usage);
  EXPECT_GE(usage->oom_kills, 1);
  EXPECT_GE(usage->memory_peak_bytes, (32 << 20) * 8 / 10);
  EXPECT_LE(usage->memory_peak_bytes, (32 << 20) + (1 << 20));
  // Its OOM count never resets: the next task would look OOM-killed, so it is not reused.
  EXPECT_FALSE(t_->driver->Recycle("oom"));
  EXPECT_TRUE(t_->driver->Exists("oom"));
}

TEST_F(CgroupEnforcementTest, RecycledCgroupMeasuresOnlyItsNewTask) {
  if (t_->driver->Version() != "v1") GTEST_SKIP() << "only v1 resets its counters";
  // The first tenant burns CPU and touches 16 MiB; the next one runs `true`.
  auto first = Start("tenant-a", {}, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; "
                                     "exec /usr/bin/perl -e '$x = \"a\" x (16 << 20)'");
  ASSERT_TRUE(first) << first.error().message;
  first->exit.get();
  auto before = t_->driver->Usage("tenant-a");
  ASSERT_TRUE(before);
  ASSERT_GE(before->memory_peak_bytes, 16 << 20);
  ASSERT_GT(before->cpu_seconds, 0.005);
  ASSERT_TRUE(WaitUntil([&] { return static_cast<bool>(t_->driver->Recycle("tenant-a")); }));
  auto second = Start("tenant-b", {}, "true");
  ASSERT_TRUE(second) << second.error().message;
  second->exit.get();
  auto after = t_->driver->Usage("tenant-b");
  ASSERT_TRUE(after);
  EXPECT_LT(after->memory_peak_bytes, 8 << 20);
  EXPECT_LT(after->cpu_seconds, before->cpu_seconds);
  EXPECT_EQ(after->oom_kills, 0);
}

// A task that leaves much page cache charged behind (here a 16 MiB file it wrote) has it
// reclaimed before its cgroup is reused; a small leftover is not worth the reclaim pass.
TEST_F(CgroupEnforcementTest, RecycledCgroupStartsWithoutThePageCacheLeftBehind) {
  if (t_->driver->Version() != "v1") GTEST_SKIP() << "only v1 resets its counters";
  const std::string file = dir_.path() + "/written";
  auto first = Start("writer", {}, "head -c 16777216 /dev/zero > " + file);
  ASSERT_TRUE(first) << first.error().message;
  first->exit.get();
  auto before = t_->driver->Usage("writer");
  ASSERT_TRUE(before);
  ASSERT_GE(before->memory_current_bytes, 8 << 20);  // the file's pages, still charged here
  ASSERT_TRUE(WaitUntil([&] { return static_cast<bool>(t_->driver->Recycle("writer")); }));
  auto second = Start("reader", {}, "true");
  ASSERT_TRUE(second) << second.error().message;
  second->exit.get();
  auto after = t_->driver->Usage("reader");
  ASSERT_TRUE(after);
  EXPECT_LT(after->memory_current_bytes, 4 << 20);
  EXPECT_LT(after->memory_peak_bytes, 4 << 20);
}

TEST_F(CgroupEnforcementTest, PidsLimitStopsForks) {
  CgroupLimits limits;
  limits.pids_max = 5;
  // The shell forks until a fork fails (then it reports it and exits).
  auto run = Start("pids", limits,
                   "i=0; while [ $i -lt 20 ]; do sleep 1000 & i=$((i+1)); done; echo all forked");
  ASSERT_TRUE(run) << run.error().message;
  ASSERT_TRUE(WaitUntil([&] {
    auto u = t_->driver->Usage("pids");
    return u && u->pids_limit_hits > 0;
  }));
  EXPECT_LE(t_->driver->Pids("pids").size(), 5u);
  const int status = run->exit.get();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << status;
  EXPECT_EQ(ReadFile(dir_.path() + "/pids.out").find("all forked"), std::string::npos);
  t_->driver->KillAll("pids");
  EXPECT_TRUE(WaitUntil([&] { return static_cast<bool>(t_->driver->Remove("pids")); }));
}

TEST_F(CgroupEnforcementTest, CpuBandwidthCapsABusyLoop) {
  CgroupLimits limits;
  limits.cpus = 0.2;
  auto run = Start("cpu", limits, "while :; do :; done");
  ASSERT_TRUE(run) << run.error().message;
  const auto start = std::chrono::steady_clock::now();
  // Let about a second of wall time pass (a measurement window, not a synchronisation).
  WaitUntil([&] { return std::chrono::steady_clock::now() - start >= std::chrono::seconds(1); },
            std::chrono::seconds(5));
  auto usage = t_->driver->Usage("cpu");
  ASSERT_TRUE(usage);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(usage->cpu_seconds, 0.02);
  EXPECT_LT(usage->cpu_seconds, 0.6 * wall);
  t_->driver->KillAll("cpu");
  EXPECT_EQ(WTERMSIG(run->exit.get()), SIGKILL);
}

TEST_F(CgroupEnforcementTest, KillAllKillsAForkingTreeThenRemoveSucceeds) {
  CgroupLimits limits;
  limits.pids_max = 64;  // bounds the fork loop
  auto run = Start("tree", limits,
                   "(setsid sleep 1000 &); (sleep 1000 &); "
                   "while :; do sleep 1000 & sleep 0.01; done");
  ASSERT_TRUE(run) << run.error().message;
  ASSERT_TRUE(WaitUntil([&] { return t_->driver->Pids("tree").size() >= 5; }));
  EXPECT_FALSE(t_->driver->Remove("tree"));  // processes remain: an error
  t_->driver->KillAll("tree");
  EXPECT_TRUE(WaitUntil([&] { return t_->driver->Pids("tree").empty(); }));
  EXPECT_EQ(WTERMSIG(run->exit.get()), SIGKILL);
  EXPECT_TRUE(WaitUntil([&] { return static_cast<bool>(t_->driver->Remove("tree")); }));
  EXPECT_FALSE(t_->driver->Exists("tree"));
}

TEST_F(CgroupEnforcementTest, DeniedDeviceCannotBeOpened) {
  if (!t_->driver->Support().devices) GTEST_SKIP() << "no device fencing on this host";
  CgroupLimits limits;
  limits.denied_devices = {DeviceId{'c', 1, 5}};  // /dev/zero
  auto run =
      Start("fenced", limits, "head -c 1 /dev/zero >/dev/null 2>&1 && echo opened || echo denied");
  ASSERT_TRUE(run) << run.error().message;
  ASSERT_TRUE(WIFEXITED(run->exit.get()));
  EXPECT_EQ(ReadFile(dir_.path() + "/fenced.out"), "denied\n");
  auto open =
      Start("open", {}, "head -c 1 /dev/zero >/dev/null 2>&1 && echo opened || echo denied");
  ASSERT_TRUE(open) << open.error().message;
  ASSERT_TRUE(WIFEXITED(open->exit.get()));
  EXPECT_EQ(ReadFile(dir_.path() + "/open.out"), "opened\n");
}

TEST_F(CgroupEnforcementTest, AttachMovesAnExistingProcess) {
  auto run = Start("first", {}, "exec sleep 1000");
  ASSERT_TRUE(run) << run.error().message;
  ASSERT_TRUE(t_->driver->Create("second", {}));
  ASSERT_TRUE(t_->driver->Attach("second", run->pid));
  EXPECT_EQ(t_->driver->Pids("second"), std::vector<pid_t>{run->pid});
  EXPECT_TRUE(t_->driver->Pids("first").empty());
  t_->driver->KillAll("second");
  EXPECT_EQ(WTERMSIG(run->exit.get()), SIGKILL);
}

// The cgroup2 mount of this host and this process's v2 path, even where no controller is
// offered (a hybrid host): enough to place and kill processes.
TEST(CgroupV2PlacementTest, StartsInsideByCloneIntoCgroupAndKillsWithCgroupKill) {
  std::string mount;
  std::istringstream in(ReadFile("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(" - cgroup2 ") == std::string::npos) continue;
    std::istringstream head(line);
    std::string f;
    for (int i = 0; i < 5 && head >> f; ++i) mount = f;
    break;
  }
  if (::geteuid() != 0 || mount.empty()) GTEST_SKIP() << "no cgroup2 mount here (or not root)";
  DriverUnderTest t;
  t.base = UniqueBase();
  CgroupOptions options;
  options.base_name = t.base;
  t.driver = MakeCgroupV2Driver(mount, OwnPath(""), options);
  CgroupDriver& d = *t.driver;
  ASSERT_TRUE(d.Create("placed", {}));
  auto placement = d.Placement("placed");
  ASSERT_TRUE(placement) << placement.error().message;
  ASSERT_GE(placement->v2_dir_fd, 0);
  // Were the child to fall back to writing procs files, this one would fail the launch.
  placement->procs_files = {"/nonexistent/cgroup.procs"};
  TempDir dir;
  LaunchSpec spec;
  spec.program = "/bin/sh";
  spec.argv = {"sh", "-c", "cat /proc/self/cgroup; (setsid sleep 1000 &); exec sleep 1000"};
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.cwd = dir.path();
  spec.stdout_path = dir.path() + "/out";
  spec.cgroup = &*placement;
  auto done = std::make_shared<std::promise<int>>();
  auto pid = ChildReaper::Instance().LaunchWatched(
      [&] { return LaunchProcess(spec); }, [done](pid_t, int status) { done->set_value(status); });
  ASSERT_TRUE(pid) << pid.error().message;
  // sh became sleep; the setsid'd sleep escaped its session but not its cgroup.
  ASSERT_TRUE(WaitUntil([&] {
    return ReadFile(dir.path() + "/out").find("0::") != std::string::npos &&
           d.Pids("placed").size() == 2;
  }));
  bool found = false;
  for (const std::string& l : Lines(ReadFile(dir.path() + "/out"))) {
    if (l.starts_with("0::")) {
      EXPECT_TRUE(l.ends_with("/" + t.base + "/placed")) << l;
      found = true;
    }
  }
  EXPECT_TRUE(found);
  d.KillAll("placed");
  EXPECT_TRUE(d.Pids("placed").empty());
  EXPECT_EQ(WTERMSIG(done->get_future().get()), SIGKILL);
  EXPECT_TRUE(WaitUntil([&] { return static_cast<bool>(d.Remove("placed")); }));
}

TEST(CgroupV1Test, LeavesOutAHierarchyATaskCouldNotJoin) {
  TempDir root;
  std::map<std::string, std::string> mounts = {{"memory", root.path() + "/memory"},
                                               {"cpuset", root.path() + "/cpuset"}};
  WriteText(root.path() + "/memory/memory.limit_in_bytes", "-1\n");
  std::filesystem::create_directories(root.path() + "/cpuset");  // no cpus/mems to copy
  CgroupOptions options;
  options.base_name = UniqueBase();
  options.fake_fs = true;
  auto driver = MakeCgroupV1Driver(mounts, {}, options);
  EXPECT_TRUE(driver->Support().memory);
  EXPECT_FALSE(driver->Support().cpuset);
  bool said = false;
  for (const std::string& p : driver->Support().problems)
    said = said || p.find("cpuset") != std::string::npos;
  EXPECT_TRUE(said);
  ASSERT_TRUE(driver->Create("t", {}));
  auto placement = driver->Placement("t");
  ASSERT_TRUE(placement);
  ASSERT_EQ(placement->procs_files.size(), 1u);
  EXPECT_NE(placement->procs_files[0].find("/memory/"), std::string::npos);
  ASSERT_TRUE(driver->Remove("t"));
  ASSERT_TRUE(driver->RemoveBase());
}

TEST(CgroupDetectTest, RejectsABadBaseName) {
  CgroupOptions options;
  options.base_name = "../x";
  EXPECT_FALSE(DetectCgroupDriver(options));
}

TEST(CgroupDetectTest, WithoutCgroupsReturnsADriverThatDoesNothing) {
  TempDir proc;
  WriteText(proc.path() + "/self/mountinfo", "22 1 0:21 / / rw - ext4 /dev/sda rw\n");
  WriteText(proc.path() + "/self/cgroup", "");
  CgroupOptions options;
  options.base_name = UniqueBase();
  options.proc_root = proc.path();
  auto driver = DetectCgroupDriver(options);
  ASSERT_TRUE(driver);
  EXPECT_EQ((*driver)->Version(), "none");
  EXPECT_FALSE((*driver)->Support().memory);
  EXPECT_FALSE((*driver)->Support().problems.empty());
  EXPECT_TRUE((*driver)->Create("t", {}));
  auto placement = (*driver)->Placement("t");
  ASSERT_TRUE(placement);
  EXPECT_TRUE(placement->empty());
}

TEST(CgroupDetectTest, PicksV2OnlyWhereItOffersTheControllersAndNestsUnderOwnCgroup) {
  // A fake /proc naming a fake cgroup2 mount (with a mount root) and fake v1 mounts.
  TempDir root;
  const std::string v2 = root.path() + "/unified";
  WriteText(v2 + "/job/cgroup.controllers", "cpuset cpu memory pids\n");
  WriteText(v2 + "/job/cgroup.subtree_control", "");
  WriteText(root.path() + "/proc/self/mountinfo",
            "40 30 0:37 /outer " + v2 + " rw,relatime - cgroup2 cgroup2 rw\n");
  WriteText(root.path() + "/proc/self/cgroup", "0::/outer/job\n");
  CgroupOptions options;
  options.base_name = UniqueBase();
  options.proc_root = root.path() + "/proc";
  options.fake_fs = true;
  auto driver = DetectCgroupDriver(options);
  ASSERT_TRUE(driver);
  EXPECT_EQ((*driver)->Version(), "v2");
  ASSERT_TRUE((*driver)->Create("t", {}));
  EXPECT_TRUE(std::filesystem::is_directory(v2 + "/job/" + options.base_name + "/t"));
  ASSERT_TRUE((*driver)->Remove("t"));
  ASSERT_TRUE((*driver)->RemoveBase());

  // Only hugetlb offered: v1 hierarchies are used instead.
  WriteText(v2 + "/job/cgroup.controllers", "hugetlb\n");
  const std::string v1 = root.path() + "/memory";
  WriteText(v1 + "/p/memory.limit_in_bytes", "-1\n");
  WriteText(root.path() + "/proc/self/mountinfo", "40 30 0:37 /outer " + v2 +
                                                      " rw - cgroup2 cgroup2 rw\n"
                                                      "34 30 0:31 / " +
                                                      v1 + " rw - cgroup cgroup rw,memory\n");
  WriteText(root.path() + "/proc/self/cgroup", "4:memory:/p\n0::/outer/job\n");
  auto v1_driver = DetectCgroupDriver(options);
  ASSERT_TRUE(v1_driver);
  EXPECT_EQ((*v1_driver)->Version(), "v1");
  EXPECT_TRUE((*v1_driver)->Support().memory);
  EXPECT_FALSE((*v1_driver)->Support().pids);
  ASSERT_TRUE((*v1_driver)->Create("t", {}));
  EXPECT_TRUE(std::filesystem::is_directory(v1 + "/p/" + options.base_name + "/t"));
  ASSERT_TRUE((*v1_driver)->Remove("t"));
  ASSERT_TRUE((*v1_driver)->RemoveBase());
}

}  // namespace
}  // namespace weft::agent
