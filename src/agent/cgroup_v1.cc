// cgroup v1: one directory per controller hierarchy, `<mount>/<own path>/<base>/<task>`.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <mutex>
#include <set>
#include <thread>

#include "agent/cgroup_driver.h"
#include "agent/cgroup_internal.h"
#include "common/log.h"

namespace weft::agent {
namespace {

using namespace cgroup_internal;  // NOLINT: the file helpers

struct Hierarchy {
  std::string own_dir;   // <mount>/<own path>
  std::string base_dir;  // own_dir/<base>
  std::set<std::string> controllers;
};

// A cgroup as this driver left it.
struct Known {
  std::vector<bool> dirs;               // by index in the driver's hierarchies: its directory is there
  std::optional<CgroupLimits> written;  // the limits its last successful Create wrote
};

class CgroupV1Driver final : public CgroupDriver {
 public:
  CgroupV1Driver(const std::map<std::string, std::string>& mounts,
                 const std::map<std::string, std::string>& own_paths, const CgroupOptions& options)
      : fake_(options.fake_fs), base_name_(options.base_name), node_cpus_(options.node_cpus) {
    for (const char* controller :
         {"memory", "cpu", "cpuacct", "pids", "cpuset", "devices", "freezer"}) {
      auto it = mounts.find(controller);
      if (it == mounts.end()) continue;
      auto own = own_paths.find(controller);
      const std::string own_dir =
          JoinPath(it->second, own != own_paths.end() ? own->second : std::string("/"));
      Hierarchy* found = nullptr;
      for (Hierarchy& h : hierarchies_) {
        if (h.own_dir == own_dir) found = &h;
      }
      if (found == nullptr) {
        hierarchies_.push_back(Hierarchy{own_dir, JoinPath(own_dir, base_name_), {}});
        found = &hierarchies_.back();
      }
      found->controllers.insert(controller);
    }
    Probe();
  }

  std::string_view Version() const override { return "v1"; }
  const IsolationSupport& Support() const override { return support_; }

  Result<> Create(const std::string& name, const CgroupLimits& limits) override {
    if (!ValidCgroupName(name)) {
      return Fail(ErrorCode::kInvalidArgument, fmt::format("invalid cgroup name \"{}\"", name));
    }
    // A parked cgroup from an ended task saves the kernel's memcg creation (see Recycle).
    // It is renamed for its new task (a task requeued onto this node takes its own back).
    Known known;
    if (Unpark(name)) {
      known = Lookup(name).value_or(Known{});
    } else if (std::optional<Known> mine = Lookup(name)) {
      known = std::move(*mine);
    } else if (std::optional<std::string> parked; !Exists(name) && (parked = TakeParked())) {
      known = Lookup(*parked).value_or(Known{});
      known.dirs = Dirs(*parked);
      if (RenameEverywhere(*parked, name, known.dirs)) {
        Forget(*parked);
      } else {
        (void)RemoveEverywhere(*parked);
        known = Known{};
      }
    }
    if (known.dirs.empty()) known.dirs = Dirs(name);  // fresh, or adopted from an earlier agent
    // Limits equal to those last written in full need no rewrite (a parked cgroup reused for a
    // task of the same shape); until this Create succeeds, none count as written.
    const std::optional<CgroupLimits> prior = std::exchange(known.written, std::nullopt);
    for (std::size_t i = 0; i < hierarchies_.size(); ++i) {
      const Hierarchy& h = hierarchies_[i];
      if (!Needed(h, limits) || known.dirs[i]) continue;
      // The base exists since Probe; make it again only if someone removed it.
      if (auto r = MakeDir(JoinPath(h.base_dir, name)); !r) {
        if (auto base = MakeDir(h.base_dir); !base) return base;
        if (auto again = MakeDir(JoinPath(h.base_dir, name)); !again) return again;
      }
      known.dirs[i] = true;
    }
    Remember(name, known);
    // Present only where it works (see Probe), and used only to pin. A parked cgroup that came
    // along but is not needed now is widened to the parent's CPUs: the same as not being in one.
    if (const int i = Index("cpuset"); i >= 0 && known.dirs[i]) {
      const Hierarchy& h = hierarchies_[i];
      if (!prior || prior->cpuset_cpus != limits.cpuset_cpus) {
        if (auto r = CopyCpuset(h.base_dir, JoinPath(h.base_dir, name), limits.cpuset_cpus, !prior); !r) {
          return r;
        }
      }
    }
    if (const Hierarchy* h = Find("memory");
        h != nullptr && support_.memory && (!prior || prior->memory_bytes != limits.memory_bytes)) {
      if (auto r = ApplyMemory(JoinPath(h->base_dir, name), limits.memory_bytes); !r) return r;
    }
    if (const Hierarchy* h = Find("cpu"); h != nullptr && support_.cpu && (!prior || prior->cpus != limits.cpus)) {
      const std::string dir = JoinPath(h->base_dir, name);
      std::string quota = "-1";
      if (limits.cpus) {
        const long long q = std::max(1000LL, std::llround(*limits.cpus * kPeriodUs));
        quota = std::to_string(q);
      }
      if (auto r =
              WriteControl(JoinPath(dir, "cpu.cfs_period_us"), std::to_string(kPeriodUs), fake_);
          !r)
        return r;
      if (auto r = WriteControl(JoinPath(dir, "cpu.cfs_quota_us"), quota, fake_); !r) return r;
      const std::int64_t shares = limits.cpus ? CpuShares(*limits.cpus) : 1024;
      if (auto r = WriteControl(JoinPath(dir, "cpu.shares"), std::to_string(shares), fake_); !r) return r;
    }
    if (const Hierarchy* h = Find("pids");
        h != nullptr && support_.pids && (!prior || prior->pids_max != limits.pids_max)) {
      const std::string value = limits.pids_max ? std::to_string(*limits.pids_max) : "max";
      if (auto r = WriteControl(JoinPath(JoinPath(h->base_dir, name), "pids.max"), value, fake_);
          !r) {
        return r;
      }
    }
    if (const Hierarchy* h = Find("devices"); h != nullptr && support_.devices) {
      const std::string file = JoinPath(JoinPath(h->base_dir, name), "devices.deny");
      for (const DeviceId& d : limits.denied_devices) {
        const std::string rule =
            fmt::format("{} {}:{} rwm", d.type == 'b' ? 'b' : 'c', d.major, d.minor);
        if (auto r = WriteControl(file, rule, fake_); !r) return r;
      }
    }
    known.written = limits;
    Remember(name, std::move(known));
    return {};
  }

  bool Exists(const std::string& name) const override {
    if (!ValidCgroupName(name) || hierarchies_.empty() || IsParked(name)) return false;
    return IsDir(JoinPath(Primary().base_dir, name));
  }

  Result<CgroupPlacement> Placement(const std::string& name) const override {
    if (!Exists(name)) {
      return Fail(ErrorCode::kNotFound, fmt::format("no cgroup {}", Describe(name)));
    }
    CgroupPlacement placement;
    const std::vector<bool> dirs = Dirs(name);
    for (std::size_t i = 0; i < hierarchies_.size(); ++i) {
      if (dirs[i]) placement.procs_files.push_back(JoinPath(JoinPath(hierarchies_[i].base_dir, name), "cgroup.procs"));
    }
    return placement;
  }

  Result<> Attach(const std::string& name, pid_t pid) override {
    if (!Exists(name)) {
      return Fail(ErrorCode::kNotFound, fmt::format("no cgroup {}", Describe(name)));
    }
    const std::vector<bool> dirs = Dirs(name);
    for (std::size_t i = 0; i < hierarchies_.size(); ++i) {
      if (!dirs[i]) continue;
      const std::string procs = JoinPath(JoinPath(hierarchies_[i].base_dir, name), "cgroup.procs");
      if (auto r = WriteControl(procs, std::to_string(pid), fake_); !r) return r;
    }
    return {};
  }

  Result<CgroupUsage> Usage(const std::string& name) const override {
    if (!Exists(name)) {
      return Fail(ErrorCode::kNotFound, fmt::format("no cgroup {}", Describe(name)));
    }
    CgroupUsage usage;
    if (const Hierarchy* h = Find("memory")) {
      const std::string dir = JoinPath(h->base_dir, name);
      usage.memory_current_bytes = ReadInt(JoinPath(dir, "memory.usage_in_bytes")).value_or(0);
      usage.memory_peak_bytes = ReadInt(JoinPath(dir, "memory.max_usage_in_bytes")).value_or(0);
      usage.oom_kills = ReadKeyed(JoinPath(dir, "memory.oom_control"), "oom_kill").value_or(0);
    }
    if (const Hierarchy* h = Find("cpuacct")) {
      const auto ns = ReadInt(JoinPath(JoinPath(h->base_dir, name), "cpuacct.usage"));
      usage.cpu_seconds = static_cast<double>(ns.value_or(0)) / 1e9;
    }
    if (const Hierarchy* h = Find("pids")) {
      const std::string dir = JoinPath(h->base_dir, name);
      usage.pids_current = ReadInt(JoinPath(dir, "pids.current")).value_or(0);
      usage.pids_limit_hits = ReadKeyed(JoinPath(dir, "pids.events"), "max").value_or(0);
    }
    return usage;
  }

  std::vector<pid_t> Pids(const std::string& name) const override {
    std::set<pid_t> pids;
    if (!ValidCgroupName(name)) return {};
    const std::vector<bool> dirs = Dirs(name);
    for (std::size_t i = 0; i < hierarchies_.size(); ++i) {
      if (!dirs[i]) continue;
      for (pid_t pid : ReadPids(JoinPath(JoinPath(hierarchies_[i].base_dir, name), "cgroup.procs"))) {
        pids.insert(pid);
      }
    }
    return {pids.begin(), pids.end()};
  }

  bool KillAll(const std::string& name) override {
    if (!ValidCgroupName(name)) return true;
    const int freezer = Index("freezer");
    const std::string freezer_dir = freezer >= 0 ? JoinPath(hierarchies_[freezer].base_dir, name) : "";
    const bool can_freeze = freezer >= 0 && !fake_ && Dirs(name)[freezer];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (;;) {
      const std::vector<pid_t> pids = Pids(name);
      if (pids.empty()) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      bool frozen = false;
      if (can_freeze && WriteControl(JoinPath(freezer_dir, "freezer.state"), "FROZEN", false)) {
        frozen = true;
        // Freezing completes asynchronously: wait (bounded) so that no process forks meanwhile.
        const auto freeze_deadline =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
        while (std::chrono::steady_clock::now() < freeze_deadline) {
          auto state = ReadControl(JoinPath(freezer_dir, "freezer.state"));
          if (state && state->starts_with("FROZEN")) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      }
      for (pid_t pid : Pids(name)) ::kill(pid, SIGKILL);
      if (frozen) (void)WriteControl(JoinPath(freezer_dir, "freezer.state"), "THAWED", false);
      // Give the killed processes a moment to leave before looking again.
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
    (void)Unpark(name);
    return RemoveEverywhere(name);
  }

  Result<> Recycle(const std::string& name) override {
    if (!ValidCgroupName(name)) {
      return Fail(ErrorCode::kInvalidArgument, fmt::format("invalid cgroup name \"{}\"", name));
    }
    if (!Exists(name)) return Fail(ErrorCode::kNotFound, fmt::format("no cgroup {}", Describe(name)));
    // Its processes are in every hierarchy alike (the launcher joins them all before exec, and
    // only root moves a process), and KillAll found none in any: one hierarchy confirms it.
    if (!ReadPids(JoinPath(JoinPath(Primary().base_dir, name), "cgroup.procs")).empty()) {
      return Fail(ErrorCode::kFailedPrecondition, fmt::format("cgroup {} still holds processes", Describe(name)));
    }
    {
      std::lock_guard lock(pool_mu_);
      if (parked_.size() >= kMaxParked) return Fail(ErrorCode::kResourceExhausted, "the cgroup pool is full");
    }
    // v1's OOM and pids-limit counters never reset: a cgroup that counted one is not reused.
    if (const Hierarchy* h = Find("memory")) {
      const std::string dir = JoinPath(h->base_dir, name);
      if (ReadKeyed(JoinPath(dir, "memory.oom_control"), "oom_kill").value_or(0) > 0) {
        return Fail(ErrorCode::kFailedPrecondition, "an OOM kill was counted");
      }
      // Reclaims the ended task's page cache, still charged here, then restarts the peaks. What a
      // short task leaves (some slab, a page of output: ~250 KiB) is not worth the reclaim pass:
      // force_empty drains every CPU's LRU and stock and walks the shrinkers, which cost more
      // than a fresh memcg. Below kReclaimAbove the next task starts with that much charged; it
      // is clean and reclaimable, so it never pushes the task into OOM.
      if (ReadInt(JoinPath(dir, "memory.usage_in_bytes")).value_or(kReclaimAbove + 1) > kReclaimAbove) {
        (void)WriteControl(JoinPath(dir, "memory.force_empty"), "0", fake_);
      }
      if (auto r = WriteControl(JoinPath(dir, "memory.max_usage_in_bytes"), "0", fake_); !r) return r;
      if (has_memsw_) (void)WriteControl(JoinPath(dir, "memory.memsw.max_usage_in_bytes"), "0", fake_);
    }
    if (const Hierarchy* h = Find("pids")) {
      if (ReadKeyed(JoinPath(JoinPath(h->base_dir, name), "pids.events"), "max").value_or(0) > 0) {
        return Fail(ErrorCode::kFailedPrecondition, "the pids limit was hit");
      }
    }
    if (const Hierarchy* h = Find("cpuacct")) {
      if (auto r = WriteControl(JoinPath(JoinPath(h->base_dir, name), "cpuacct.usage"), "0", fake_); !r) return r;
    }
    // Device rules differ per task and cannot be undone: that part is removed, the rest parked
    // (device rules co-mounted with a kept controller could not be, so such a cgroup is not
    // parked). A cpuset is parked too: Create rewrites its CPUs, pinned or the parent's.
    Known known = Lookup(name).value_or(Known{});
    known.dirs = Dirs(name);
    for (std::size_t i = 0; i < hierarchies_.size(); ++i) {
      const Hierarchy& h = hierarchies_[i];
      if (!known.dirs[i]) continue;
      if (!Needed(h, CgroupLimits{}) && h.controllers.count("cpuset") == 0) {
        if (auto r = RemoveDir(JoinPath(h.base_dir, name), fake_); !r) return r;
        known.dirs[i] = false;
        Remember(name, known);
      } else if (h.controllers.count("devices") != 0) {
        return Fail(ErrorCode::kFailedPrecondition, "its device rules cannot be reset");
      }
    }
    // Parked under its own name (renamed only when reused): unlisted, and no longer Exists.
    Remember(name, std::move(known));
    std::lock_guard lock(pool_mu_);
    parked_.push_back(name);
    return {};
  }

  void DrainPool() override {
    std::deque<std::string> parked;
    {
      std::lock_guard lock(pool_mu_);
      parked.swap(parked_);
    }
    for (const std::string& name : parked) (void)RemoveEverywhere(name);
  }

  std::vector<std::string> List() const override {
    std::set<std::string> names;
    for (const Hierarchy& h : hierarchies_) {
      for (std::string& n : SubDirs(h.base_dir)) {
        if (ValidCgroupName(n)) names.insert(std::move(n));
      }
    }
    std::lock_guard lock(pool_mu_);
    for (const std::string& parked : parked_) names.erase(parked);
    return {names.begin(), names.end()};
  }

  Result<> RemoveBase() override {
    {
      std::lock_guard lock(known_mu_);
      known_.clear();
    }
    Result<> result;
    for (const Hierarchy& h : hierarchies_) {
      auto r = RemoveDir(h.base_dir, fake_);
      if (!r && result) result = r;
    }
    return result;
  }

  std::string Describe(const std::string& name) const override {
    if (hierarchies_.empty()) return "(no cgroup)";
    return JoinPath(Primary().base_dir, name);
  }

 private:
  static constexpr long long kPeriodUs = 100000;
  // Enough for the tasks a node runs at once; beyond it ended tasks' cgroups are removed.
  static constexpr std::size_t kMaxParked = 64;
  // Recycle reclaims a parked memcg's leftover charge only above this (see Recycle).
  static constexpr std::int64_t kReclaimAbove = 1 << 20;

  bool IsParked(const std::string& name) const {
    std::lock_guard lock(pool_mu_);
    return std::find(parked_.begin(), parked_.end(), name) != parked_.end();
  }
  // Takes `name` out of the pool; false when it was not parked.
  bool Unpark(const std::string& name) {
    std::lock_guard lock(pool_mu_);
    auto it = std::find(parked_.begin(), parked_.end(), name);
    if (it == parked_.end()) return false;
    parked_.erase(it);
    return true;
  }

  std::optional<std::string> TakeParked() {
    std::lock_guard lock(pool_mu_);
    if (parked_.empty()) return std::nullopt;
    std::string name = std::move(parked_.front());
    parked_.pop_front();
    return name;
  }

  // Renames `from` to `to` in every hierarchy that has it (`dirs`, see Dirs; cgroupfs renames
  // within a parent), all or nothing.
  bool RenameEverywhere(const std::string& from, const std::string& to, const std::vector<bool>& dirs) {
    std::vector<const Hierarchy*> done;
    for (std::size_t i = 0; i < hierarchies_.size(); ++i) {
      const Hierarchy& h = hierarchies_[i];
      const std::string src = JoinPath(h.base_dir, from);
      if (!dirs[i]) continue;
      if (std::rename(src.c_str(), JoinPath(h.base_dir, to).c_str()) != 0) {
        for (const Hierarchy* back : done) {
          (void)std::rename(JoinPath(back->base_dir, to).c_str(), JoinPath(back->base_dir, from).c_str());
        }
        return false;
      }
      done.push_back(&h);
    }
    return !done.empty();
  }

  const Hierarchy* Find(const std::string& controller) const {
    for (const Hierarchy& h : hierarchies_) {
      if (h.controllers.count(controller) != 0) return &h;
    }
    return nullptr;
  }
  // Whether a task with `limits` gets a cgroup in `h`: the hierarchies that limit or measure
  // every task (memory, cpu, cpuacct, pids) always; cpuset only to pin, devices only to deny,
  // the freezer never (KillAll repeats its kill instead). Each cgroup made and removed costs
  // the agent's loop time at every task's start and end.
  static bool Needed(const Hierarchy& h, const CgroupLimits& limits) {
    for (const char* always : {"memory", "cpu", "cpuacct", "pids"}) {
      if (h.controllers.count(always) != 0) return true;
    }
    if (h.controllers.count("cpuset") != 0 && !limits.cpuset_cpus.empty()) return true;
    if (h.controllers.count("devices") != 0 && !limits.denied_devices.empty()) return true;
    return false;
  }

  Result<> RemoveEverywhere(const std::string& name) {
    Result<> result;
    std::vector<bool> dirs = Dirs(name);
    for (std::size_t i = 0; i < hierarchies_.size(); ++i) {
      if (!dirs[i]) continue;
      if (auto r = RemoveDir(JoinPath(hierarchies_[i].base_dir, name), fake_); r) {
        dirs[i] = false;
      } else if (result) {
        result = r;
      }
    }
    if (result) {
      Forget(name);
    } else if (std::optional<Known> known = Lookup(name)) {
      known->dirs = std::move(dirs);
      Remember(name, std::move(*known));
    }
    return result;
  }

  int Index(std::string_view controller) const {
    for (std::size_t i = 0; i < hierarchies_.size(); ++i) {
      if (hierarchies_[i].controllers.count(std::string(controller)) != 0) return static_cast<int>(i);
    }
    return -1;
  }

  std::optional<Known> Lookup(const std::string& name) const {
    std::lock_guard lock(known_mu_);
    auto it = known_.find(name);
    if (it == known_.end()) return std::nullopt;
    return it->second;
  }
  void Remember(const std::string& name, Known known) {
    std::lock_guard lock(known_mu_);
    known_[name] = std::move(known);
  }
  void Forget(const std::string& name) {
    std::lock_guard lock(known_mu_);
    known_.erase(name);
  }
  // Which hierarchies hold `name`'s directory (by index in hierarchies_): as this driver left
  // them, or else as found on disk.
  std::vector<bool> Dirs(const std::string& name) const {
    if (std::optional<Known> known = Lookup(name)) return known->dirs;
    std::vector<bool> dirs;
    for (const Hierarchy& h : hierarchies_) dirs.push_back(IsDir(JoinPath(h.base_dir, name)));
    return dirs;
  }

  const Hierarchy& Primary() const {
    const Hierarchy* memory = Find("memory");
    return memory != nullptr ? *memory : hierarchies_.front();
  }

  // cpuset.mems from the parent (where `fresh`: a new v1 cpuset cgroup starts empty, and no
  // process can join it until both are set); cpuset.cpus pinned or from the parent.
  Result<> CopyCpuset(const std::string& parent, const std::string& dir, const std::string& cpus,
                      bool fresh = true) {
    auto trim = [](std::string s) {
      while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
      return s;
    };
    std::string want_cpus = cpus;
    if (want_cpus.empty()) {
      auto parent_cpus = ReadControl(JoinPath(parent, "cpuset.cpus"));
      if (!parent_cpus) return Fail(ErrorCode::kInternal, fmt::format("cannot read the cpuset of {}", parent));
      want_cpus = trim(*parent_cpus);
    }
    if (fresh) {
      auto parent_mems = ReadControl(JoinPath(parent, "cpuset.mems"));
      if (!parent_mems) return Fail(ErrorCode::kInternal, fmt::format("cannot read the cpuset of {}", parent));
      const std::string mems = trim(*parent_mems);
      if (!mems.empty()) {
        if (auto r = WriteControl(JoinPath(dir, "cpuset.mems"), mems, fake_); !r) return r;
      }
    }
    if (!want_cpus.empty()) {
      if (auto r = WriteControl(JoinPath(dir, "cpuset.cpus"), want_cpus, fake_); !r) return r;
    }
    return {};
  }

  Result<> ApplyMemory(const std::string& dir, std::optional<std::int64_t> bytes) {
    const std::string limit_file = JoinPath(dir, "memory.limit_in_bytes");
    const std::string memsw_file = JoinPath(dir, "memory.memsw.limit_in_bytes");
    const std::string value = bytes ? std::to_string(*bytes) : "-1";
    if (!has_memsw_) {
      if (auto r = WriteControl(limit_file, value, fake_); !r) return r;
      return WriteControl(JoinPath(dir, "memory.swappiness"), "0", fake_);
    }
    // memsw.limit >= limit at every step: raise memsw first when the limit grows.
    if (!WriteControl(limit_file, value, fake_)) {
      if (auto r = WriteControl(memsw_file, value, fake_); !r) return r;
      if (auto r = WriteControl(limit_file, value, fake_); !r) return r;
    }
    return WriteControl(memsw_file, value, fake_);
  }

  // Creates the base in every hierarchy and finds what can be enforced.
  void Probe() {
    std::set<std::string> broken;
    for (const Hierarchy& h : hierarchies_) {
      if (auto r = MakeDir(h.base_dir); !r) {
        for (const std::string& c : h.controllers) {
          support_.problems.push_back(fmt::format("cgroup v1 {}: {}", c, r.error().message));
          broken.insert(c);
        }
      }
    }
    // A control works when it can be written in the base (fake trees: when the own dir has it).
    auto works = [&](const char* controller, const char* file) {
      const Hierarchy* h = Find(controller);
      if (h == nullptr) {
        support_.problems.push_back(
            fmt::format("cgroup v1: no hierarchy of the {} controller is mounted", controller));
        return false;
      }
      if (broken.count(controller) != 0) return false;
      const bool ok =
          fake_ ? IsRegular(JoinPath(h->own_dir, file)) : Writable(JoinPath(h->base_dir, file));
      if (!ok) {
        support_.problems.push_back(fmt::format("cgroup v1 {}: {} is not writable", controller,
                                                JoinPath(h->base_dir, file)));
      }
      return ok;
    };
    if (const Hierarchy* h = Find("cpuset"); h != nullptr && broken.count("cpuset") == 0) {
      if (auto r = CopyCpuset(h->own_dir, h->base_dir, ""); !r) {
        support_.problems.push_back(fmt::format("cgroup v1 cpuset: {}", r.error().message));
        broken.insert("cpuset");
      }
    }
    support_.memory = works("memory", "memory.limit_in_bytes");
    if (const Hierarchy* h = Find("memory")) {
      has_memsw_ = IsRegular(JoinPath(h->own_dir, "memory.memsw.limit_in_bytes"));
      if (support_.memory && !has_memsw_) {
        support_.problems.push_back(
            "cgroup v1 memory: no memory.memsw (swap accounting off): swap is only discouraged "
            "(swappiness 0)");
      }
    }
    support_.cpu = works("cpu", "cpu.cfs_quota_us");
    if (const Hierarchy* h = Find("cpu"); h != nullptr && support_.cpu && node_cpus_ > 0) {
      (void)WriteControl(JoinPath(h->base_dir, "cpu.shares"), std::to_string(CpuShares(node_cpus_)), fake_);
    }
    support_.pids = works("pids", "pids.max");
    support_.cpuset = works("cpuset", "cpuset.cpus");
    if (!support_.cpuset) broken.insert("cpuset");  // an unset cpuset takes no process
    support_.devices = works("devices", "devices.deny");
    // A hierarchy that cannot hold the task (no base, an empty cpuset) is left out entirely:
    // a child could not join it, and a launch would fail.
    std::erase_if(hierarchies_, [&](const Hierarchy& h) {
      for (const std::string& c : h.controllers) {
        if (broken.count(c) != 0) {
          (void)RemoveDir(h.base_dir, fake_);
          return true;
        }
      }
      return false;
    });
    if (Find("freezer") == nullptr) {
      support_.problems.push_back(
          "cgroup v1: no freezer hierarchy: killing a forking task is not atomic");
    }
    if (Find("cpuacct") == nullptr) {
      support_.problems.push_back("cgroup v1: no cpuacct hierarchy: CPU usage is not reported");
    }
  }

  static bool IsRegular(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

  bool fake_;
  std::string base_name_;
  int node_cpus_;
  std::vector<Hierarchy> hierarchies_;
  IsolationSupport support_;
  bool has_memsw_ = false;
  // What this driver knows of the cgroups it made or parked: saves a stat per hierarchy on
  // most calls and, when a parked cgroup serves a task of the same shape, rewriting equal
  // limits (each cgroupfs access walks kernfs: it was most of isolation's cost per task).
  mutable std::mutex known_mu_;
  std::map<std::string, Known> known_;  // guarded by known_mu_
  mutable std::mutex pool_mu_;
  // Guarded by pool_mu_: the names of emptied cgroups ready for Create (those an earlier agent
  // parked are not known here: List shows them as leftovers).
  std::deque<std::string> parked_;
};

}  // namespace

std::unique_ptr<CgroupDriver> MakeCgroupV1Driver(std::map<std::string, std::string> mounts,
                                                 std::map<std::string, std::string> own_paths,
                                                 const CgroupOptions& options) {
  return std::make_unique<CgroupV1Driver>(mounts, own_paths, options);
}

}  // namespace weft::agent
