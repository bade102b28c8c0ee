// cgroup v2 (unified): `<mount>/<own path>/<base>/<task>`, controllers enabled in the
// subtree_control of `<own>` and `<base>`.
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <set>
#include <sstream>
#include <thread>

#include "agent/cgroup_driver.h"
#include "agent/cgroup_internal.h"
#include "common/log.h"

namespace weft::agent {
namespace {

using namespace cgroup_internal;  // NOLINT: the file helpers

std::set<std::string> Words(const std::optional<std::string>& text) {
  std::set<std::string> out;
  if (!text) return out;
  std::istringstream in(*text);
  std::string word;
  while (in >> word) out.insert(word);
  return out;
}

class CgroupV2Driver final : public CgroupDriver {
 public:
  CgroupV2Driver(const std::string& mount, const std::string& own_path,
                 const CgroupOptions& options)
      : fake_(options.fake_fs),
        node_cpus_(options.node_cpus),
        mount_(mount),
        own_dir_(JoinPath(mount, own_path)),
        base_dir_(JoinPath(own_dir_, options.base_name)),
        agent_leaf_(own_dir_ + "/" + options.base_name + "-agent") {
    Probe();
  }

  std::string_view Version() const override { return "v2"; }
  const IsolationSupport& Support() const override { return support_; }

  Result<> Create(const std::string& name, const CgroupLimits& limits) override {
    if (!ValidCgroupName(name)) {
      return Fail(ErrorCode::kInvalidArgument, fmt::format("invalid cgroup name \"{}\"", name));
    }
    if (auto r = MakeDir(base_dir_); !r) return r;
    const std::string dir = JoinPath(base_dir_, name);
    if (auto r = MakeDir(dir); !r) return r;
    if (support_.memory) {
      const std::string value = limits.memory_bytes ? std::to_string(*limits.memory_bytes) : "max";
      if (auto r = WriteControl(JoinPath(dir, "memory.max"), value, fake_); !r) return r;
      const std::string swap = JoinPath(dir, "memory.swap.max");
      if (fake_ || ::access(swap.c_str(), F_OK) == 0) {
        if (auto r = WriteControl(swap, limits.memory_bytes ? "0" : "max", fake_); !r) return r;
      }
    }
    if (support_.cpu) {
      std::string quota = "max";
      if (limits.cpus) {
        quota = std::to_string(std::max(1000LL, std::llround(*limits.cpus * kPeriodUs)));
      }
      if (auto r =
              WriteControl(JoinPath(dir, "cpu.max"), fmt::format("{} {}", quota, kPeriodUs), fake_);
          !r) {
        return r;
      }
      const std::int64_t weight = limits.cpus ? CpuWeight(*limits.cpus) : 100;
      if (auto r = WriteControl(JoinPath(dir, "cpu.weight"), std::to_string(weight), fake_); !r) return r;
    }
    if (support_.pids) {
      const std::string value = limits.pids_max ? std::to_string(*limits.pids_max) : "max";
      if (auto r = WriteControl(JoinPath(dir, "pids.max"), value, fake_); !r) return r;
    }
    // An empty v2 cpuset.cpus uses the parent's effective CPUs; mems are inherited likewise.
    if (support_.cpuset && !limits.cpuset_cpus.empty()) {
      if (auto r = WriteControl(JoinPath(dir, "cpuset.cpus"), limits.cpuset_cpus, fake_); !r)
        return r;
    }
    if (!limits.denied_devices.empty() && !support_.devices) {
      Log(LogLevel::kDebug, "cgroup {}: device rules ignored (no v2 device program)", dir);
    }
    return {};
  }

  bool Exists(const std::string& name) const override {
    return ValidCgroupName(name) && IsDir(JoinPath(base_dir_, name));
  }

  Result<CgroupPlacement> Placement(const std::string& name) const override {
    if (!Exists(name)) {
      return Fail(ErrorCode::kNotFound, fmt::format("no cgroup {}", Describe(name)));
    }
    const std::string dir = JoinPath(base_dir_, name);
    CgroupPlacement placement;
    placement.v2_dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (placement.v2_dir_fd < 0) {
      return Fail(ErrorCode::kInternal,
                  fmt::format("cannot open cgroup {}: {}", dir, std::strerror(errno)));
    }
    placement.procs_files.push_back(JoinPath(dir, "cgroup.procs"));
    return placement;
  }

  Result<> Attach(const std::string& name, pid_t pid) override {
    if (!Exists(name)) {
      return Fail(ErrorCode::kNotFound, fmt::format("no cgroup {}", Describe(name)));
    }
    return WriteControl(JoinPath(JoinPath(base_dir_, name), "cgroup.procs"), std::to_string(pid),
                        fake_);
  }

  Result<CgroupUsage> Usage(const std::string& name) const override {
    if (!Exists(name)) {
      return Fail(ErrorCode::kNotFound, fmt::format("no cgroup {}", Describe(name)));
    }
    const std::string dir = JoinPath(base_dir_, name);
    CgroupUsage usage;
    usage.memory_current_bytes = ReadInt(JoinPath(dir, "memory.current")).value_or(0);
    usage.memory_peak_bytes = ReadInt(JoinPath(dir, "memory.peak")).value_or(0);
    usage.oom_kills = ReadKeyed(JoinPath(dir, "memory.events"), "oom_kill").value_or(0);
    usage.cpu_seconds =
        static_cast<double>(ReadKeyed(JoinPath(dir, "cpu.stat"), "usage_usec").value_or(0)) / 1e6;
    usage.pids_current = ReadInt(JoinPath(dir, "pids.current")).value_or(0);
    usage.pids_limit_hits = ReadKeyed(JoinPath(dir, "pids.events"), "max").value_or(0);
    return usage;
  }

  std::vector<pid_t> Pids(const std::string& name) const override {
    if (!ValidCgroupName(name)) return {};
    return ReadPids(JoinPath(JoinPath(base_dir_, name), "cgroup.procs"));
  }

  bool KillAll(const std::string& name) override {
    if (!ValidCgroupName(name) || Pids(name).empty()) return true;
    const std::string dir = JoinPath(base_dir_, name);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    const std::string kill_file = JoinPath(dir, "cgroup.kill");
    const std::string freeze_file = JoinPath(dir, "cgroup.freeze");
    const bool has_kill = !fake_ && ::access(kill_file.c_str(), F_OK) == 0;
    const bool has_freeze = !fake_ && ::access(freeze_file.c_str(), F_OK) == 0;
    for (;;) {
      if (Pids(name).empty()) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      if (has_kill && WriteControl(kill_file, "1", false)) {
        // cgroup.kill is atomic with respect to forks; wait (bounded) for the exits.
      } else {
        if (has_freeze) (void)WriteControl(freeze_file, "1", false);
        for (pid_t pid : Pids(name)) ::kill(pid, SIGKILL);
        if (has_freeze) (void)WriteControl(freeze_file, "0", false);
      }
      const auto settle = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
      while (!Pids(name).empty() && std::chrono::steady_clock::now() < settle) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  }

  Result<> Remove(const std::string& name) override {
    if (!ValidCgroupName(name)) {
      return Fail(ErrorCode::kInvalidArgument, fmt::format("invalid cgroup name \"{}\"", name));
    }
    return RemoveDir(JoinPath(base_dir_, name), fake_);
  }

  std::vector<std::string> List() const override {
    std::vector<std::string> names;
    for (std::string& n : SubDirs(base_dir_)) {
      if (ValidCgroupName(n)) names.push_back(std::move(n));
    }
    return names;
  }

  Result<> RemoveBase() override { return RemoveDir(base_dir_, fake_); }

  std::string Describe(const std::string& name) const override { return JoinPath(base_dir_, name); }

 private:
  static constexpr long long kPeriodUs = 100000;

  // Enables `controllers` in `dir`'s subtree_control, one by one; returns those enabled.
  std::set<std::string> Enable(const std::string& dir, const std::set<std::string>& controllers,
                               std::vector<std::string>& errors) {
    const std::string file = JoinPath(dir, "cgroup.subtree_control");
    std::set<std::string> enabled = Words(ReadControl(file));
    for (const std::string& c : controllers) {
      if (enabled.count(c) != 0) continue;
      if (fake_) {
        enabled.insert(c);
        std::string all;
        for (const std::string& e : enabled) all += (all.empty() ? "" : " ") + e;
        (void)WriteControl(file, all, true);
        continue;
      }
      if (auto r = WriteControl(file, "+" + c, false); r) {
        enabled.insert(c);
      } else {
        errors.push_back(r.error().message);
      }
    }
    return enabled;
  }

  void Probe() {
    const std::set<std::string> wanted = {"cpuset", "cpu", "memory", "pids"};
    const std::set<std::string> available =
        Words(ReadControl(JoinPath(own_dir_, "cgroup.controllers")));
    std::set<std::string> offered;
    for (const std::string& c : wanted) {
      if (available.count(c) != 0) offered.insert(c);
    }
    std::vector<std::string> errors;
    if (auto r = MakeDir(base_dir_); !r) {
      support_.problems.push_back(fmt::format("cgroup v2: {}", r.error().message));
      return;
    }
    std::set<std::string> in_own = Enable(own_dir_, offered, errors);
    if (in_own.size() < offered.size() && own_dir_ != mount_ && !fake_ &&
        !ReadPids(JoinPath(own_dir_, "cgroup.procs")).empty()) {
      // "No internal processes": our own cgroup holds processes (the agent), so it cannot hand
      // controllers to its children. Move them into a leaf of their own and try again.
      errors.clear();
      if (MakeDir(agent_leaf_)) {
        for (pid_t pid : ReadPids(JoinPath(own_dir_, "cgroup.procs"))) {
          (void)WriteControl(JoinPath(agent_leaf_, "cgroup.procs"), std::to_string(pid), false);
        }
        Log(LogLevel::kInfo, "cgroup v2: moved the agent's processes into {}", agent_leaf_);
      }
      in_own = Enable(own_dir_, offered, errors);
    }
    const std::set<std::string> in_base = Enable(base_dir_, in_own, errors);
    auto check = [&](const char* controller) {
      if (available.count(controller) == 0) {
        support_.problems.push_back(fmt::format(
            "cgroup v2: the {} controller is not available in {}", controller, own_dir_));
        return false;
      }
      if (in_base.count(controller) == 0) {
        support_.problems.push_back(
            fmt::format("cgroup v2: cannot enable the {} controller below {}{}", controller,
                        own_dir_, errors.empty() ? "" : ": " + errors.front()));
        return false;
      }
      return true;
    };
    support_.memory = check("memory");
    support_.cpu = check("cpu");
    if (support_.cpu && node_cpus_ > 0) {
      (void)WriteControl(JoinPath(base_dir_, "cpu.weight"), std::to_string(CpuWeight(node_cpus_)), fake_);
    }
    support_.pids = check("pids");
    support_.cpuset = check("cpuset");
    support_.devices = false;
    support_.problems.push_back(
        "cgroup v2: device fencing (a BPF device program) is not implemented: devices are not "
        "denied");
  }

  bool fake_;
  int node_cpus_;
  std::string mount_;
  std::string own_dir_;
  std::string base_dir_;
  std::string agent_leaf_;
  IsolationSupport support_;
};

}  // namespace

std::unique_ptr<CgroupDriver> MakeCgroupV2Driver(const std::string& mount,
                                                 const std::string& own_path,
                                                 const CgroupOptions& options) {
  return std::make_unique<CgroupV2Driver>(mount, own_path, options);
}

}  // namespace weft::agent
