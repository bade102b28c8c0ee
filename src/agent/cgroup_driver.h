// Per-task cgroups: one CgroupDriver interface over cgroup v2 (unified) and cgroup v1 (one
// hierarchy per controller). The agent keeps a container cgroup of its own ("base") beneath its
// own cgroup (or a configured parent), never at a hierarchy's root, and one child cgroup per
// task beneath the base. Limits: memory hard limit without swap, CFS CPU bandwidth, pids.max,
// cpuset pinning, device deny rules (v1 only). Tasks are started inside their cgroup through a
// CgroupPlacement handed to LaunchProcess (process_tree.h), so no process of a task ever runs
// outside it.
//
// Contract: drivers hold no mutable state after construction except the filesystem, the pool
// of recycled cgroups and what they remember of the cgroups they made (both guarded inside the
// driver): calls for different task names may run on any thread.
// Only the limits the host supports (Support()) are applied; the others are ignored silently
// (the agent logs Support().problems once at start).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace weft::agent {

// What this host can enforce.
struct IsolationSupport {
  bool memory = false, cpu = false, pids = false, cpuset = false, devices = false;
  std::vector<std::string> problems;  // one sentence per missing/unwritable controller
};

struct DeviceId {
  char type = 'c';  // 'c' or 'b'
  int major = 0;
  int minor = 0;
};

struct CgroupLimits {
  // Hard limit, swap forbidden (v1: memsw = the same; v2: memory.swap.max = 0).
  std::optional<std::int64_t> memory_bytes;
  // CFS bandwidth: quota = cpus * period (period 100ms); and the task's weight when CPUs are
  // contended, in proportion to what it asked (v1 cpu.shares 1024 per CPU, v2 cpu.weight by
  // Kubernetes' conversion). No value: no quota, the default weight.
  std::optional<double> cpus;
  std::optional<std::int64_t> pids_max;
  std::string cpuset_cpus;  // "" = not pinned, else e.g. "0-1,3"; mems copied from parent
  std::vector<DeviceId> denied_devices;  // denied for rwm (v1 devices.deny; v2: unsupported)
};

struct CgroupUsage {
  std::int64_t memory_current_bytes = 0, memory_peak_bytes = 0;
  double cpu_seconds = 0;      // user+system (v1 cpuacct.usage; v2 cpu.stat usage_usec)
  std::int64_t oom_kills = 0;  // v2 memory.events oom_kill; v1 memory.oom_control oom_kill
  std::int64_t pids_current = 0;
  std::int64_t pids_limit_hits = 0;  // pids.events max
};

// Where a child joins before exec (filled by the driver, used by LaunchProcess).
struct CgroupPlacement {
  int v2_dir_fd = -1;                    // O_DIRECTORY fd for CLONE_INTO_CGROUP (v2), owned here
  std::vector<std::string> procs_files;  // cgroup.procs files the child writes its pid into
                                         // (v1: one per hierarchy; v2: the fallback for clone3)

  CgroupPlacement() = default;
  ~CgroupPlacement();
  CgroupPlacement(CgroupPlacement&& other) noexcept;
  CgroupPlacement& operator=(CgroupPlacement&& other) noexcept;
  CgroupPlacement(const CgroupPlacement&) = delete;
  CgroupPlacement& operator=(const CgroupPlacement&) = delete;
  bool empty() const { return v2_dir_fd < 0 && procs_files.empty(); }
};

class CgroupDriver {
 public:
  virtual ~CgroupDriver() = default;
  // "v2", "v1", or "none" (no usable hierarchy: every call succeeds doing nothing, Exists is
  // false, Placement is empty, Usage is all zero).
  virtual std::string_view Version() const = 0;
  virtual const IsolationSupport& Support() const = 0;
  // Creates the task cgroup `name` (chars [A-Za-z0-9._@-]) beneath this agent's base and
  // applies `limits` (only those the host supports). Idempotent: an existing one is reused
  // (adoption) and its limits rewritten.
  virtual Result<> Create(const std::string& name, const CgroupLimits& limits) = 0;
  virtual bool Exists(const std::string& name) const = 0;
  virtual Result<CgroupPlacement> Placement(const std::string& name) const = 0;
  virtual Result<> Attach(const std::string& name, pid_t pid) = 0;  // move an existing process
  virtual Result<CgroupUsage> Usage(const std::string& name) const = 0;
  virtual std::vector<pid_t> Pids(const std::string& name) const = 0;
  // SIGKILLs every process of the cgroup (v2: cgroup.kill where present; v1: freeze, kill,
  // thaw, repeated until empty, for at most about two seconds). Does not wait for reaping.
  // True when no process is left in it.
  virtual bool KillAll(const std::string& name) = 0;
  // rmdir in every hierarchy; an error while processes remain. A missing cgroup is success.
  virtual Result<> Remove(const std::string& name) = 0;
  // Parks the emptied task cgroup `name` for a later Create of another task to reuse, instead
  // of removing it: making and destroying a memory cgroup is the kernel's most expensive part
  // of isolating a task. Its counters (peak memory, CPU time) are reset and its page cache
  // reclaimed first (where more than a trace is left), so the next task measures only itself.
  // Call it once KillAll found the cgroup empty. Fails, leaving the cgroup for
  // Remove, when processes remain, when the host cannot reset its counters (v2; v1 after an
  // OOM kill or a pids-limit hit, counters that never reset), or when the pool is full.
  virtual Result<> Recycle(const std::string& name) {
    return Fail(ErrorCode::kUnimplemented, "cgroup " + name + " cannot be recycled on this host");
  }
  // Removes every parked cgroup (the agent's stop, tests).
  virtual void DrainPool() {}
  // Task cgroups existing beneath the base (for leftovers after restart); parked ones are not
  // listed.
  virtual std::vector<std::string> List() const = 0;
  // Removes the (empty) base cgroup itself: for tests and an agent's clean shutdown. On v2
  // the agent's own leaf (see DetectCgroupDriver) is left in place.
  virtual Result<> RemoveBase() = 0;
  // The task cgroup's directory in the memory (v1) or unified (v2) hierarchy: for logs.
  virtual std::string Describe(const std::string& name) const = 0;
};

struct CgroupOptions {
  std::string base_name;  // e.g. "weft-node0-1a2b3c4d": the agent's container cgroup
  std::string parent;     // optional: a cgroup path (relative to each hierarchy's root) to
                          // nest under instead of the agent's own cgroup
  std::string proc_root = "/proc";  // for tests: where mountinfo/cgroup are read (self/...)
  // CPUs the node offers: the base's weight against the host's other processes is that of this
  // many CPUs (as Kubernetes weighs its pods' slice by the node's allocatable CPUs), so that
  // putting tasks in cgroups does not shrink their share. 0 leaves the default weight.
  int node_cpus = 0;
  // Tests only: the hierarchy is a plain directory tree standing in for cgroupfs, so writes
  // create missing files and Remove deletes the files of a cgroup directory before rmdir.
  bool fake_fs = false;
};

// Detects v2 (a cgroup2 mount where the agent's own v2 cgroup offers memory, cpu and pids) or
// else v1 (the cgroup v1 mounts of memory, cpu, cpuacct, pids, cpuset, devices, freezer, read
// from PROC/self/mountinfo and PROC/self/cgroup). The driver probes what works by creating the
// base and enabling/opening its controls; Support() reports it.
//
// Never fails for lack of cgroups: without any usable hierarchy it returns a driver whose
// Version() is "none" and whose Support() lists the problems. It fails only for an invalid
// base_name.
//
// v2 and the "no internal processes" rule: controllers are enabled in `<own>` and
// `<own>/<base>`; when `<own>` holds processes (EBUSY), the processes of `<own>` (the agent
// itself, usually) are first moved into the leaf `<own>/<base>-agent`, which stays after exit.
Result<std::unique_ptr<CgroupDriver>> DetectCgroupDriver(const CgroupOptions& options);

// Constructors usable by tests: a v2 driver over a mount directory (own_path relative to it,
// e.g. "/" or "/system.slice/x"), and v1 over a map of controller -> hierarchy directory (as
// seen in the filesystem) and controller -> own cgroup path within that directory. Both
// create the base and probe; neither fails (Support() says what works).
std::unique_ptr<CgroupDriver> MakeCgroupV2Driver(const std::string& mount,
                                                 const std::string& own_path,
                                                 const CgroupOptions& options);
std::unique_ptr<CgroupDriver> MakeCgroupV1Driver(std::map<std::string, std::string> mounts,
                                                 std::map<std::string, std::string> own_paths,
                                                 const CgroupOptions& options);

// True when `name` is a valid task (or base) cgroup name: [A-Za-z0-9._@-]+, not "." or "..".
bool ValidCgroupName(std::string_view name);

}  // namespace weft::agent
