// The node's local task table: starts assigned tasks, kills unassigned ones, enforces time
// limits, turns process exits into TaskReports, persists them, and cleans up whatever a task
// leaves behind.
//
// Threading: every method runs on the thread of `loop`, which owns all the state. Process
// exits arrive from the ChildReaper's thread, and news that they are durable from the
// TaskJournal's thread; both are posted to the loop.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/task_files.h"
#include "agent/task_isolation.h"
#include "agent/task_journal.h"
#include "common/error.h"
#include "common/event_loop.h"
#include "model/task.h"

namespace weft::agent {

struct SupervisorConfig {
  std::string node_name;  // tasks are marked WEFT_TASK_MARKER=<node_name>/<key>
  std::string work_dir;
  Duration kill_wait = std::chrono::seconds(5);  // SIGTERM → SIGKILL grace
  // Cgroups, owner and GPU fencing around each task, and its usage; null: none (tasks run as
  // the agent, unmeasured). Not owned; outlives the supervisor.
  TaskIsolation* isolation = nullptr;
};

// Exit code reported for a task whose end no agent saw (it ended while none ran).
inline constexpr int kUnknownExitCode = -1;

class TaskSupervisor {
 public:
  // `on_change` runs on the loop thread after a task started or ended.
  TaskSupervisor(SupervisorConfig config, EventLoop& loop, std::function<void()> on_change);
  ~TaskSupervisor();
  TaskSupervisor(const TaskSupervisor&) = delete;
  TaskSupervisor& operator=(const TaskSupervisor&) = delete;

  // Creates the work directory and takes over what an earlier agent left: unacknowledged
  // exits, tombstones, and tasks still running (adopted: watched, time-limited and killed
  // like the others; one that ended unseen is reported with kUnknownExitCode). Call once,
  // before anything else.
  Result<> Recover();

  // Level-triggered reconcile: starts every assigned task that is neither known nor
  // tombstoned, terminates every running task that is not assigned (killed_by_agent), and
  // drops the tombstones that this set, if its version is high enough, no longer lists.
  // An assignment with a stop request (preemption) stops its running task: the request's
  // signal to the whole tree, SIGKILL after its grace, exit reported `preempted`; such a
  // task not started yet is never started and reported exited at once (code 0, preempted).
  // Idempotent: a task is never started twice, nor stopped twice.
  void Apply(const model::NodeAssignments& assignments);

  // Every known task: running ones and exited ones not yet acknowledged. An exit shows once
  // it is durable (until then the task shows as running): a report never carries an exit
  // that a restarted agent could forget.
  std::vector<model::TaskReport> Snapshot() const;

  // The controller durably recorded these exits and answered with `version`: forget the
  // tasks (and their directories) but never start them again until an assignment set with a
  // version >= `version` no longer lists them. Keys of unknown or running tasks are ignored.
  void Acknowledge(const std::vector<model::TaskKey>& exited, std::int64_t version);

  // Kills processes in the agent's subtree marked with a task this supervisor no longer
  // runs, and cgroups of such tasks (a safety net behind the cleanup at each task's end).
  // Call periodically.
  void CollectLeftovers();

  // Reads every running task's usage (cgroup counters, GPU utilization) for the next reports.
  // Call periodically.
  void SampleUsage();

  // Kills every running task at once (SIGKILL to its tree and cgroup): the agent lost the
  // controller long enough that the controller may declare this node failed and run the jobs
  // elsewhere. Their exits are reported `node_failed` when the controller is reached again.
  void Fence(const std::string& why);

  // Stops watching processes and cancels timers; running tasks keep running (a later
  // TaskSupervisor adopts them). Exits already reaped are made durable first. Idempotent.
  void Shutdown();

  bool IsTombstoned(const model::TaskKey& key) const { return tombstones_.count(key) != 0; }

 private:
  struct Task {
    model::TaskKey key;
    std::string marker;
    pid_t pid = 0;  // main process while running, else 0
    unsigned long long start_ticks = 0;
    bool foreign = false;  // adopted, but not our child: polled, orphans may be anywhere
    TimePoint start_time{};
    std::optional<TimePoint> end_time;
    std::optional<model::TaskExit> exit;
    std::optional<model::TaskUsage> usage;  // latest sample while running, final once exited
    bool durable = false;  // the exit is in the journal
    bool timed_out = false;
    bool killed_by_agent = false;
    bool preempted = false;
    bool fenced = false;  // killed by Fence
    std::optional<TimePoint> kill_deadline;  // set once SIGTERM went out: SIGKILL due then
    TimerId limit_timer = 0;
    TimerId warn_timer = 0;  // --signal's warning before the time limit
    TimerId kill_timer = 0;
    TimerId poll_timer = 0;
    bool running() const { return !exit.has_value(); }
  };
  // Repeated SIGKILL passes over what is left of an ended task's tree.
  struct Sweep {
    pid_t pgid = 0;  // 0 once the group is known empty
    std::string marker;
    bool marker_everywhere = false;
    TimePoint give_up{};
    Duration delay{};
    TimerId timer = 0;
    std::optional<model::TaskKey> cgroup;  // the task's cgroup, until it is removed
  };
  class ExitInbox;
  enum class StopReason { kUnassigned, kTimeLimit, kPreempted, kFenced };

  void Start(const model::TaskAssignment& assignment);
  void FailStart(Task& task, const model::TaskAssignment& assignment, const std::string& why);
  void Adopt(const RunningTaskRecord& record);
  void Watch(Task& task);  // time limit, polling; REQUIRES: task.pid set
  // Sends SIGTERM (or `signal`) and SIGCONT to the task's tree; SIGKILL follows after
  // config.kill_wait (or `grace`). A task already on its way out only records the reason.
  void Terminate(Task& task, StopReason reason);
  void Terminate(Task& task, StopReason reason, int signal, Duration grace);
  // Arms the --signal warning `warning.before` ahead of the time limit.
  void ArmWarning(Task& task, const model::SignalSpec& warning, Duration time_limit);
  // A stopped assignment never started: recorded as exited at once.
  void NeverStart(const model::TaskAssignment& assignment);
  void OnKillDeadline(const model::TaskKey& key);
  void Poll(const model::TaskKey& key);
  void DrainExits();
  void OnDurable(const std::vector<model::TaskKey>& keys);
  // Records the exit and sweeps what is left of the tree. `group_alive`: the main pid was
  // reaped just now, so its number still names the task's process group.
  void Finish(Task& task, model::TaskExit exit, bool group_alive = true);
  void StartSweep(pid_t pgid, const std::string& marker, bool everywhere, TimePoint first,
                  const model::TaskKey& key);
  void RunSweep(std::uint64_t id);
  bool NothingLeft(pid_t pgid) const;  // cheap check before a full sweep (pgid 0: group empty)
  void CancelTimer(TimerId& id);
  model::TaskReport ReportOf(const Task& task) const;        // as journaled
  model::TaskReport PublicReportOf(const Task& task) const;  // as reported
  std::function<void(pid_t, int)> ExitCallback();  // for the ChildReaper: posts to the inbox

  SupervisorConfig config_;
  EventLoop& loop_;
  std::function<void()> on_change_;
  TaskFiles files_;
  TaskJournal journal_;
  std::shared_ptr<ExitInbox> inbox_;
  std::map<model::TaskKey, Task> tasks_;
  std::map<pid_t, model::TaskKey> by_pid_;  // running tasks' main pids (watched and foreign)
  std::set<pid_t> live_pids_;               // the keys of by_pid_
  std::map<model::TaskKey, std::int64_t> tombstones_;
  std::map<std::uint64_t, Sweep> sweeps_;
  std::uint64_t next_sweep_id_ = 1;
  bool shut_down_ = false;
};

}  // namespace weft::agent
