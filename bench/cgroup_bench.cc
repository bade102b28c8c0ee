// Per-task cost of cgroup isolation (Google Benchmark): Create + Placement + launch /bin/true
// inside + wait + Remove, next to a launch without a cgroup and to plain posix_spawn (the
// launcher LaunchProcess replaced). Needs root and a cgroup hierarchy for the cgroup case.
#include <benchmark/benchmark.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "agent/cgroup_driver.h"
#include "agent/process_tree.h"

namespace {

using weft::agent::CgroupDriver;
using weft::agent::CgroupLimits;
using weft::agent::CgroupOptions;
using weft::agent::LaunchSpec;
using weft::Result;

LaunchSpec TrueSpec() {
  LaunchSpec spec;
  spec.program = "/bin/true";
  spec.argv = {"true"};
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.cwd = "/";
  return spec;
}

void Wait(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

void BM_PosixSpawnTrue(benchmark::State& state) {
  char arg0[] = "true";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {nullptr};
  for (auto _ : state) {
    pid_t pid = 0;
    if (::posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, envp) != 0) {
      state.SkipWithError("posix_spawn failed");
      break;
    }
    Wait(pid);
  }
}
BENCHMARK(BM_PosixSpawnTrue)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_LaunchTrueNoCgroup(benchmark::State& state) {
  const LaunchSpec spec = TrueSpec();
  for (auto _ : state) {
    auto pid = weft::agent::LaunchProcess(spec);
    if (!pid) {
      state.SkipWithError(pid.error().message.c_str());
      break;
    }
    Wait(*pid);
  }
}
BENCHMARK(BM_LaunchTrueNoCgroup)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_LaunchTrueInCgroup(benchmark::State& state) {
  CgroupOptions options;
  options.base_name = "weft-bench-" + std::to_string(::getpid());
  auto detected = weft::agent::DetectCgroupDriver(options);
  if (!detected || (*detected)->Version() == "none") {
    state.SkipWithError("no cgroups here");
    return;
  }
  CgroupDriver& driver = **detected;
  CgroupLimits limits;
  limits.memory_bytes = std::int64_t{256} << 20;
  limits.cpus = 1;
  limits.pids_max = 64;
  LaunchSpec spec = TrueSpec();
  std::int64_t n = 0;
  for (auto _ : state) {
    const std::string name = "task-" + std::to_string(n++);
    auto created = driver.Create(name, limits);
    auto placement = created ? driver.Placement(name) : tl::unexpected(created.error());
    if (!placement) {
      state.SkipWithError(placement.error().message.c_str());
      break;
    }
    spec.cgroup = &*placement;
    auto pid = weft::agent::LaunchProcess(spec);
    if (!pid) {
      state.SkipWithError(pid.error().message.c_str());
      break;
    }
    Wait(*pid);
    // Arg 1: the agent's janitor path, parking the cgroup for the next task (v1), as the pool
    // does; Arg 0: a mkdir and rmdir per task.
    Result<> done = state.range(0) == 1 ? driver.Recycle(name) : Result<>{};
    if (state.range(0) == 0 || !done) done = driver.Remove(name);
    if (!done) {
      state.SkipWithError(done.error().message.c_str());
      break;
    }
  }
  state.SetLabel(std::string(driver.Version()) + (state.range(0) == 1 ? " recycled" : " removed"));
  for (const std::string& name : driver.List()) (void)driver.Remove(name);
  driver.DrainPool();
  (void)driver.RemoveBase();
}
BENCHMARK(BM_LaunchTrueInCgroup)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

// CLONE_INTO_CGROUP (a fork-style clone3) into a v2 cgroup, no limits: works on any cgroup2
// mount, also a hybrid host's controller-less one.
void BM_LaunchTrueCloneIntoV2Cgroup(benchmark::State& state) {
  std::string mount, own;
  std::ifstream mountinfo("/proc/self/mountinfo");
  for (std::string line; std::getline(mountinfo, line);) {
    if (line.find(" - cgroup2 ") == std::string::npos) continue;
    std::istringstream fields(line);
    std::string field;
    for (int i = 0; i < 5 && fields >> field; ++i) mount = field;
    break;
  }
  std::ifstream cgroup("/proc/self/cgroup");
  for (std::string line; std::getline(cgroup, line);) {
    if (line.starts_with("0::")) own = line.substr(3);
  }
  if (mount.empty()) {
    state.SkipWithError("no cgroup2 mount");
    return;
  }
  CgroupOptions options;
  options.base_name = "weft-bench-v2-" + std::to_string(::getpid());
  auto driver = weft::agent::MakeCgroupV2Driver(mount, own, options);
  if (!driver->Create("task", {})) {
    state.SkipWithError("cannot create a v2 cgroup");
    return;
  }
  auto placement = driver->Placement("task");
  LaunchSpec spec = TrueSpec();
  spec.cgroup = placement ? &*placement : nullptr;
  for (auto _ : state) {
    auto pid = weft::agent::LaunchProcess(spec);
    if (!pid) {
      state.SkipWithError(pid.error().message.c_str());
      break;
    }
    Wait(*pid);
  }
  (void)driver->Remove("task");
  (void)driver->RemoveBase();
}
BENCHMARK(BM_LaunchTrueCloneIntoV2Cgroup)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
