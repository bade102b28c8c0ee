// What the agent enforces around each task, and measures of it: its own cgroup with limits
// from the request (memory without swap, CPU bandwidth, pids, cores pinned for whole-CPU
// requests, other GPUs' device files denied), its owner's uid, gids and environment, and its
// usage (cgroup counters, NVML utilization). TaskSupervisor calls it around each launch and
// end; without cgroups (or with isolation off) the cgroup parts do nothing and tasks run as
// before.
//
// Threading: the supervisor's loop thread only; a janitor thread of its own kills what is left
// in ended tasks' cgroups and parks them for reuse or removes them, off the loop (creating and
// removing cgroups is the slow part: it would otherwise delay every start behind it).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/cgroup_driver.h"
#include "agent/gpu_discovery.h"
#include "agent/process_tree.h"
#include "common/error.h"
#include "model/node.h"
#include "model/task.h"

namespace weft::agent {

struct IsolationConfig {
  bool cgroups = true;          // false: no cgroups at all (--isolation off)
  std::string cgroup_parent;    // "" = beneath the agent's own cgroup
  std::int64_t pids_limit = 4096;  // per task; 0 = none
  // Run each task as its owner (the agent must be root). False: tasks run as the agent.
  bool run_as_owner = false;
  int node_cpus = 0;  // CPUs the node offers; cores are pinned only when the host has them all
  // Real GPUs (NVML), by index; empty with fake slots. `gpu_library` samples utilization.
  std::vector<GpuDevice> gpus;
  std::shared_ptr<GpuDiscovery> gpu_library;
  std::string dev_dir = "/dev";  // where /dev/nvidiaN live
};

class TaskIsolation {
 public:
  // Detects the cgroup driver (logging once what the host cannot enforce). `base_name` names
  // this agent's container cgroup (unique per agent and stable across its restarts).
  static Result<std::unique_ptr<TaskIsolation>> Create(IsolationConfig config, const std::string& base_name);
  // A TaskIsolation over a given driver (tests).
  TaskIsolation(IsolationConfig config, std::unique_ptr<CgroupDriver> driver);
  ~TaskIsolation();  // Close()
  TaskIsolation(const TaskIsolation&) = delete;
  TaskIsolation& operator=(const TaskIsolation&) = delete;

  // What this node enforces, for `weft nodes` and --require-isolation.
  model::NodeIsolation Describe() const;

  // Makes `spec` start the task isolated: creates its cgroup with the assignment's limits
  // (the caller points spec.cgroup at the returned placement, which must outlive the launch),
  // switches to its owner (spec.credentials, HOME/USER/LOGNAME/SHELL; `script`, its directory
  // and the output files handed to the owner) and sets CUDA_VISIBLE_DEVICES for real GPUs.
  // Fails with one sentence (unknown owner, a job that would run as root without being
  // root's, a cgroup that cannot be made); call Cleanup then.
  Result<CgroupPlacement> Prepare(const model::TaskAssignment& assignment, const std::string& script,
                                  LaunchSpec& spec);

  // The task's usage so far: cgroup counters and its GPUs' mean utilization (sampled at each
  // call). nullopt when nothing is measured.
  std::optional<model::TaskUsage> Usage(const model::TaskKey& key);
  // True when the kernel OOM-killed a process of the task, by the cgroup counters the last
  // Usage() call read (the supervisor reads them when the task's main process has exited).
  bool OomKilled(const model::TaskKey& key) const;
  // Signals every process in the task's cgroup (nothing escapes it, unlike a process tree).
  void Signal(const model::TaskKey& key, int signal) const;
  // Frees the task's pinned cores and hands its cgroup to the janitor, which kills what is
  // left in it and parks it for a later task (CgroupDriver::Recycle) or removes it (retrying
  // while processes linger; CollectLeftovers catches what it gives up on).
  void Cleanup(const model::TaskKey& key);
  // Hands the janitor the cgroups of tasks not in `keep` (left by an earlier agent, or whose
  // removal failed before).
  void CollectLeftovers(const std::set<model::TaskKey>& keep);

  // At the agent's stop: finishes the janitor's work (bounded), removes the cgroups without a
  // process (tasks that ended before their sweep), then the base when no task cgroup is left
  // in it (running tasks keep theirs, for the next agent to adopt). Idempotent.
  void Close();

  static std::string CgroupName(const model::TaskKey& key);  // "task-12.0@1"

 private:
  std::string PickCores(const model::TaskKey& key, std::int64_t cpu_milli);
  std::vector<DeviceId> DeniedGpus(const std::vector<int>& allocated) const;

  class Janitor;
  bool HasCgroups() const { return driver_ && driver_->Version() != "none"; }

  IsolationConfig config_;
  std::unique_ptr<CgroupDriver> driver_;
  std::unique_ptr<Janitor> janitor_;  // null without cgroups
  std::vector<int> cores_;                                // usable for pinning
  std::map<model::TaskKey, std::vector<int>> pinned_;     // cores held by running tasks
  std::map<model::TaskKey, std::vector<int>> task_gpus_;  // real GPU indices per task
  struct GpuSamples {
    long long sum = 0;
    long long count = 0;
  };
  std::map<model::TaskKey, GpuSamples> gpu_samples_;
  std::map<model::TaskKey, std::int64_t> memory_limits_;
  std::map<model::TaskKey, CgroupUsage> last_usage_;  // for a task whose cgroup is gone
};

}  // namespace weft::agent
