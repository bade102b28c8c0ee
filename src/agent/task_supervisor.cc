#include "agent/task_supervisor.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <utility>

#include "agent/child_reaper.h"
#include "agent/process_tree.h"
#include "common/log.h"

namespace weft::agent {
namespace {

// Leftovers of an ended task are SIGKILLed again and again, first quickly, then every
// kMaxSweepDelay, for at most kSweepPatience before the agent gives up on them.
constexpr Duration kFirstSweepDelay = std::chrono::milliseconds(5);
constexpr Duration kMaxSweepDelay = std::chrono::milliseconds(500);
constexpr Duration kSweepPatience = std::chrono::seconds(60);
// SIGKILL is repeated this often while a task's main process survives it.
constexpr Duration kKillRepeat = std::chrono::seconds(1);
// How often an adopted task that is not our child is checked for life.
constexpr Duration kForeignPollInterval = std::chrono::milliseconds(200);

model::TaskExit ExitFromWaitStatus(int status) {
  model::TaskExit exit;
  if (WIFEXITED(status)) {
    exit.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    exit.signal = WTERMSIG(status);
    exit.exit_code = 128 + exit.signal;
  }
  return exit;
}

// Appends one line to the task's output file, if it can be opened.
void WriteOutputLine(const std::string& path, const std::string& line) {
  if (path.empty()) return;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const std::string text = line + "\n";
  [[maybe_unused]] const ssize_t n = ::write(fd, text.data(), text.size());
  ::close(fd);
}

}  // namespace

// Exits handed over by the reaper thread, drained on the loop thread. Posts one drain per
// batch, however many exits arrive before it runs.
class TaskSupervisor::ExitInbox {
 public:
  explicit ExitInbox(std::function<void()> post_drain) : post_drain_(std::move(post_drain)) {}

  void Push(pid_t pid, int wait_status) {
    bool post = false;
    {
      std::lock_guard lock(mu_);
      exits_.emplace_back(pid, wait_status);
      post = !std::exchange(drain_posted_, true);
    }
    if (post) post_drain_();
  }

  std::vector<std::pair<pid_t, int>> Take() {
    std::lock_guard lock(mu_);
    drain_posted_ = false;
    return std::exchange(exits_, {});
  }

 private:
  const std::function<void()> post_drain_;
  std::mutex mu_;
  std::vector<std::pair<pid_t, int>> exits_;
  bool drain_posted_ = false;
};

TaskSupervisor::TaskSupervisor(SupervisorConfig config, EventLoop& loop,
                               std::function<void()> on_change)
    : config_(std::move(config)),
      loop_(loop),
      on_change_(std::move(on_change)),
      files_(config_.work_dir),
      journal_(config_.work_dir + "/journal"),
      inbox_(std::make_shared<ExitInbox>([this] { loop_.Post([this] { DrainExits(); }); })) {}

TaskSupervisor::~TaskSupervisor() {
  // Whatever thread destroys us, the reaper must not call into a dead inbox's owner.
  for (const auto& [pid, key] : by_pid_) ChildReaper::Instance().Unwatch(pid);
}

std::function<void(pid_t, int)> TaskSupervisor::ExitCallback() {
  return [inbox = inbox_](pid_t pid, int wait_status) { inbox->Push(pid, wait_status); };
}

Result<> TaskSupervisor::Recover() {
  if (auto ok = files_.Init(); !ok) return ok;
  auto recovered = journal_.Open([this](std::vector<model::TaskKey> keys) {
    loop_.Post([this, keys = std::move(keys)] { OnDurable(keys); });
  });
  if (!recovered) return tl::unexpected(recovered.error());
  tombstones_ = std::move(recovered->tombstones);
  for (model::TaskReport& report : recovered->exits) {
    Task task;
    task.key = report.key;
    task.marker = fmt::format("{}/{}", config_.node_name, model::ToString(report.key));
    task.start_time = report.start_time.value_or(TimePoint{});
    task.end_time = report.end_time;
    task.exit = report.exit;
    task.usage = report.usage;
    task.durable = true;
    tasks_.emplace(task.key, std::move(task));
  }
  for (const RunningTaskRecord& record : recovered->running) Adopt(record);
  std::set<model::TaskKey> known;
  for (const auto& [key, task] : tasks_) known.insert(key);
  files_.RemoveAllBut(known);
  if (!tasks_.empty()) {
    Log(LogLevel::kInfo, "recovered {} unacknowledged exits and {} running tasks from {}",
        recovered->exits.size(), recovered->running.size(), config_.work_dir);
    on_change_();
  }
  return {};
}

void TaskSupervisor::Adopt(const RunningTaskRecord& record) {
  if (tasks_.count(record.key) != 0) return;
  Task& task = tasks_[record.key];
  task.key = record.key;
  task.marker = record.marker;
  task.pid = record.pid;
  task.start_ticks = record.start_ticks;
  task.start_time = record.start_time;
  const ChildReaper::AdoptResult adopted =
      ChildReaper::Instance().Adopt(record.pid, record.start_ticks, ExitCallback());
  // An adopted task that already ended: its pid (and so its group id) may be recycled by now,
  // so only the marker tells what is left of it.
  if (std::holds_alternative<ChildReaper::Exited>(adopted)) {
    Finish(task, ExitFromWaitStatus(std::get<ChildReaper::Exited>(adopted).wait_status),
           /*group_alive=*/false);
    return;
  }
  if (std::holds_alternative<ChildReaper::Gone>(adopted)) {
    Log(LogLevel::kWarn, "task {} ended while no agent watched it; its exit status is lost",
        model::ToString(task.key));
    model::TaskExit exit;
    exit.exit_code = kUnknownExitCode;
    Finish(task, exit, /*group_alive=*/false);
    return;
  }
  task.foreign = std::holds_alternative<ChildReaper::NotOurChild>(adopted);
  Log(LogLevel::kInfo, "adopted running task {} (pid {})", model::ToString(task.key), task.pid);
  by_pid_[task.pid] = task.key;
  live_pids_.insert(task.pid);
  if (record.time_limit) {
    task.limit_timer = loop_.RunAt(task.start_time + *record.time_limit, [this, key = task.key] {
      auto it = tasks_.find(key);
      if (it != tasks_.end() && it->second.running()) Terminate(it->second, StopReason::kTimeLimit);
    });
  }
  // A warning whose time has passed was sent by the earlier agent (or missed while none ran).
  if (record.warning && record.time_limit &&
      task.start_time + *record.time_limit - record.warning->before > loop_.clock().Now()) {
    ArmWarning(task, *record.warning, *record.time_limit);
  }
  if (task.foreign) Poll(task.key);
}

void TaskSupervisor::Apply(const model::NodeAssignments& assignments) {
  if (shut_down_) return;
  std::set<model::TaskKey> wanted;
  for (const model::TaskAssignment& a : assignments.tasks) wanted.insert(a.key);

  std::erase_if(tombstones_, [&](const auto& entry) {
    const bool obsolete = assignments.version >= entry.second && wanted.count(entry.first) == 0;
    if (obsolete) journal_.RecordForget(entry.first);
    return obsolete;
  });

  // Free what is no longer wanted first, then stop what is preempted, then start what is
  // missing.
  for (auto& [key, task] : tasks_) {
    if (task.running() && wanted.count(key) == 0) Terminate(task, StopReason::kUnassigned);
  }
  bool started = false;
  for (const model::TaskAssignment& a : assignments.tasks) {
    if (auto it = tasks_.find(a.key); it != tasks_.end()) {
      Task& task = it->second;
      if (a.stop && task.running() && !task.preempted) {
        Terminate(task, StopReason::kPreempted, a.stop->signal, a.stop->grace);
      }
      continue;
    }
    if (tombstones_.count(a.key) != 0) continue;
    if (a.stop) {
      NeverStart(a);
    } else {
      Start(a);
    }
    started = true;
  }
  if (started) on_change_();
}

void TaskSupervisor::Start(const model::TaskAssignment& assignment) {
  Task& task = tasks_[assignment.key];
  task.key = assignment.key;
  task.marker = fmt::format("{}/{}", config_.node_name, model::ToString(assignment.key));
  task.start_time = loop_.clock().Now();

  auto script = files_.WriteScript(assignment.key, assignment.script);
  if (!script) return FailStart(task, assignment, script.error().message);

  LaunchSpec spec;
  // A script without "#!" runs under /bin/sh, as a shell would run it.
  if (assignment.script.starts_with("#!")) {
    spec.program = *script;
    spec.argv = {*script};
  } else {
    spec.program = "/bin/sh";
    spec.argv = {"/bin/sh", *script};
  }
  spec.argv.insert(spec.argv.end(), assignment.args.begin(), assignment.args.end());
  spec.env.reserve(assignment.env.size() + 1);
  for (const auto& [name, value] : assignment.env) {
    if (name != kTaskMarkerVariable) spec.env.push_back(name + "=" + value);
  }
  spec.env.push_back(fmt::format("{}={}", kTaskMarkerVariable, task.marker));
  spec.cwd = assignment.work_dir.empty() ? files_.TaskDir(assignment.key) : assignment.work_dir;
  spec.stdout_path = assignment.output_path;
  spec.stderr_path = assignment.error_path;
  CgroupPlacement placement;
  if (config_.isolation != nullptr) {
    auto prepared = config_.isolation->Prepare(assignment, *script, spec);
    if (!prepared) {
      config_.isolation->Cleanup(assignment.key);
      return FailStart(task, assignment, prepared.error().message);
    }
    placement = std::move(*prepared);
    if (!placement.empty()) spec.cgroup = &placement;
  }

  unsigned long long start_ticks = 0;
  auto pid = ChildReaper::Instance().LaunchWatched(
      [&]() -> Result<pid_t> {
        auto launched = LaunchProcess(spec);
        ProcessInfo info;  // read before the reaper can reap it: it waits for us
        if (launched && ReadProcessInfo(*launched, info)) start_ticks = info.start_ticks;
        return launched;
      },
      ExitCallback());
  if (!pid) {
    if (config_.isolation != nullptr) config_.isolation->Cleanup(assignment.key);
    return FailStart(task, assignment, pid.error().message);
  }

  task.pid = *pid;
  task.start_ticks = start_ticks;
  by_pid_[task.pid] = task.key;
  live_pids_.insert(task.pid);
  journal_.RecordStart(RunningTaskRecord{task.key, task.pid, task.start_ticks, task.start_time,
                                         assignment.time_limit, task.marker, assignment.warning});
  if (assignment.time_limit) {
    task.limit_timer =
        loop_.RunAt(task.start_time + *assignment.time_limit, [this, key = task.key] {
          auto it = tasks_.find(key);
          if (it != tasks_.end() && it->second.running()) {
            Terminate(it->second, StopReason::kTimeLimit);
          }
        });
  }
  if (assignment.warning && assignment.time_limit) {
    ArmWarning(task, *assignment.warning, *assignment.time_limit);
  }
  Log(LogLevel::kDebug, "started task {} (pid {})", model::ToString(task.key), task.pid);
}

void TaskSupervisor::ArmWarning(Task& task, const model::SignalSpec& warning, Duration time_limit) {
  // Slurm sends it `before` ahead of the end; a warning longer than the limit goes at once.
  const TimePoint at = std::max(task.start_time, task.start_time + time_limit - warning.before);
  task.warn_timer = loop_.RunAt(at, [this, key = task.key, warning] {
    auto it = tasks_.find(key);
    if (it == tasks_.end() || !it->second.running() || it->second.kill_deadline) return;
    Task& t = it->second;
    t.warn_timer = 0;
    Log(LogLevel::kInfo, "task {}: sending signal {} ahead of its time limit", model::ToString(key),
        warning.signal);
    if (warning.batch_only) {
      ::kill(t.pid, warning.signal);  // "B:": the batch shell alone
    } else {
      SignalTaskTree(TreeQuery{t.pid, t.pid, t.marker, t.foreign, &live_pids_}, warning.signal);
    }
  });
}

void TaskSupervisor::NeverStart(const model::TaskAssignment& assignment) {
  Task& task = tasks_[assignment.key];
  task.key = assignment.key;
  task.marker = fmt::format("{}/{}", config_.node_name, model::ToString(assignment.key));
  task.start_time = loop_.clock().Now();
  task.preempted = true;
  Log(LogLevel::kInfo, "task {} is preempted before it started: not starting it",
      model::ToString(task.key));
  Finish(task, model::TaskExit{});
}

void TaskSupervisor::FailStart(Task& task, const model::TaskAssignment& assignment,
                               const std::string& why) {
  const std::string line =
      fmt::format("weft: cannot start task {}: {}", model::ToString(task.key), why);
  Log(LogLevel::kWarn, "{}", line);
  WriteOutputLine(assignment.output_path, line);
  model::TaskExit exit;
  exit.exit_code = 1;
  Finish(task, exit);
}

void TaskSupervisor::Fence(const std::string& why) {
  bool any = false;
  for (auto& [key, task] : tasks_) {
    if (!task.running()) continue;
    if (!any) Log(LogLevel::kWarn, "fencing every running task: {}", why);
    any = true;
    // SIGKILL at once: the controller may start these jobs elsewhere any moment now. A task
    // already stopping (a preemption's grace) does not wait out its grace either.
    const bool stopping = task.kill_deadline.has_value();
    Terminate(task, StopReason::kFenced, SIGKILL, std::chrono::milliseconds(0));
    if (stopping) {
      CancelTimer(task.kill_timer);
      OnKillDeadline(key);
    }
  }
}

void TaskSupervisor::Terminate(Task& task, StopReason reason) {
  Terminate(task, reason, SIGTERM, config_.kill_wait);
}

void TaskSupervisor::Terminate(Task& task, StopReason reason, int signal, Duration grace) {
  const char* why = "no longer assigned";
  switch (reason) {
    case StopReason::kTimeLimit:
      task.timed_out = true;
      why = "time limit reached";
      break;
    case StopReason::kUnassigned:
      task.killed_by_agent = true;
      break;
    case StopReason::kPreempted:
      task.preempted = true;
      why = "preempted";
      break;
    case StopReason::kFenced:
      task.fenced = true;
      why = "fenced: the controller is out of reach";
      break;
  }
  if (task.kill_deadline) return;  // already on its way out
  Log(LogLevel::kInfo, "terminating task {}: {} (signal {}, SIGKILL after {} ms)",
      model::ToString(task.key), why, signal,
      std::chrono::duration_cast<std::chrono::milliseconds>(grace).count());
  const TreeQuery query{task.pid, task.pid, task.marker, task.foreign, &live_pids_};
  SignalTaskTree(query, signal);
  SignalTaskTree(query, SIGCONT);  // a stopped process must run to handle the signal
  if (config_.isolation != nullptr) {  // and whatever left the tree, inside the cgroup
    config_.isolation->Signal(task.key, signal);
    config_.isolation->Signal(task.key, SIGCONT);
  }
  task.kill_deadline = loop_.clock().Now() + grace;
  task.kill_timer =
      loop_.RunAt(*task.kill_deadline, [this, key = task.key] { OnKillDeadline(key); });
}

void TaskSupervisor::OnKillDeadline(const model::TaskKey& key) {
  auto it = tasks_.find(key);
  if (it == tasks_.end() || !it->second.running()) return;
  Task& task = it->second;
  SignalTaskTree(TreeQuery{task.pid, task.pid, task.marker, task.foreign, &live_pids_}, SIGKILL);
  if (config_.isolation != nullptr) config_.isolation->Signal(key, SIGKILL);
  task.kill_timer = loop_.RunAfter(kKillRepeat, [this, key] { OnKillDeadline(key); });
}

void TaskSupervisor::Poll(const model::TaskKey& key) {
  auto it = tasks_.find(key);
  if (it == tasks_.end() || !it->second.running()) return;
  Task& task = it->second;
  if (!ProcessAlive(task.pid, task.start_ticks)) {
    Log(LogLevel::kWarn, "adopted task {} ended; its exit status is unknown", model::ToString(key));
    model::TaskExit exit;
    exit.exit_code = kUnknownExitCode;
    Finish(task, exit, /*group_alive=*/false);
    return;
  }
  task.poll_timer = loop_.RunAfter(kForeignPollInterval, [this, key] { Poll(key); });
}

void TaskSupervisor::DrainExits() {
  for (const auto& [pid, status] : inbox_->Take()) {
    auto it = by_pid_.find(pid);
    if (it == by_pid_.end()) continue;
    auto task = tasks_.find(it->second);
    if (task == tasks_.end() || !task->second.running()) continue;
    Finish(task->second, ExitFromWaitStatus(status));
  }
}

void TaskSupervisor::OnDurable(const std::vector<model::TaskKey>& keys) {
  for (const model::TaskKey& key : keys) {
    auto it = tasks_.find(key);
    if (it != tasks_.end() && it->second.exit) it->second.durable = true;
  }
  on_change_();
}

void TaskSupervisor::Finish(Task& task, model::TaskExit exit, bool group_alive) {
  const TimePoint now = loop_.clock().Now();
  exit.timed_out = exit.timed_out || task.timed_out;
  exit.killed_by_agent = exit.killed_by_agent || task.killed_by_agent;
  exit.preempted = exit.preempted || task.preempted;
  exit.node_failed = exit.node_failed || task.fenced;
  if (config_.isolation != nullptr) {
    // The cgroup's counters, read before anything left in it is killed: the final usage, and
    // whether the kernel's OOM killer struck (how a task's end is told apart as OOM_KILLED).
    if (auto usage = config_.isolation->Usage(task.key)) task.usage = usage;
    if (config_.isolation->OomKilled(task.key)) exit.oom_killed = true;
  }
  task.exit = exit;
  task.end_time = now;
  CancelTimer(task.limit_timer);
  CancelTimer(task.warn_timer);
  CancelTimer(task.kill_timer);
  CancelTimer(task.poll_timer);
  const pid_t pid = std::exchange(task.pid, 0);
  if (pid > 0) {
    by_pid_.erase(pid);
    live_pids_.erase(pid);
  }
  journal_.RecordExit(ReportOf(task));  // reported once durable (OnDurable)
  Log(LogLevel::kDebug, "task {} exited: code {} signal {}", model::ToString(task.key),
      exit.exit_code, exit.signal);
  // Whatever is left of the tree dies now, or when the SIGTERM grace ends.
  const TimePoint first = task.kill_deadline ? std::max(now, *task.kill_deadline) : now;
  if (pid > 0 && group_alive) {
    StartSweep(pid, task.marker, task.foreign, first, task.key);
  } else if (pid > 0) {
    StartSweep(/*pgid=*/0, task.marker, /*everywhere=*/true, first, task.key);
  } else if (config_.isolation != nullptr) {
    config_.isolation->Cleanup(task.key);  // never started: at most an empty cgroup
  }
}

void TaskSupervisor::StartSweep(pid_t pgid, const std::string& marker, bool everywhere,
                                TimePoint first, const model::TaskKey& key) {
  if (shut_down_) return;
  const std::uint64_t id = next_sweep_id_++;
  Sweep& sweep = sweeps_[id];
  sweep.pgid = pgid;
  if (config_.isolation != nullptr) sweep.cgroup = key;
  sweep.marker = marker;
  sweep.marker_everywhere = everywhere;
  sweep.give_up = first + kSweepPatience;
  sweep.delay = kFirstSweepDelay;
  if (first <= loop_.clock().Now()) {
    RunSweep(id);
  } else {
    sweep.timer = loop_.RunAt(first, [this, id] { RunSweep(id); });
  }
}

void TaskSupervisor::RunSweep(std::uint64_t id) {
  auto it = sweeps_.find(id);
  if (it == sweeps_.end()) return;
  Sweep& sweep = it->second;
  sweep.timer = 0;
  // An empty group can never fill again, and its number may then go to someone else (a live
  // task of ours, say): from then on only the marker and the ppid links count.
  if (sweep.pgid > 1 &&
      (live_pids_.count(sweep.pgid) != 0 || (::kill(-sweep.pgid, 0) != 0 && errno == ESRCH))) {
    sweep.pgid = 0;
  }
  // The cgroup holds every process of the task: killing it all and removing it is the sweep
  // where cgroups exist; the process tree search below stays for hosts without them.
  if (sweep.cgroup) config_.isolation->Cleanup(*std::exchange(sweep.cgroup, std::nullopt));
  if (!sweep.marker_everywhere && !sweep.cgroup && NothingLeft(sweep.pgid)) {
    sweeps_.erase(it);
    return;
  }
  TreeQuery query;
  query.pgid = sweep.pgid;
  query.marker = sweep.marker;
  query.marker_everywhere = sweep.marker_everywhere;
  query.other_roots = &live_pids_;
  const int found = SignalTaskTree(query, SIGKILL);
  if (found == 0 && !sweep.cgroup) {
    sweeps_.erase(it);
    return;
  }
  if (loop_.clock().Now() >= sweep.give_up) {
    Log(LogLevel::kWarn, "giving up on {} leftover processes of task {}", found, sweep.marker);
    sweeps_.erase(it);
    return;
  }
  sweep.timer = loop_.RunAfter(sweep.delay, [this, id] { RunSweep(id); });
  sweep.delay = std::min(sweep.delay * 2, kMaxSweepDelay);
}

bool TaskSupervisor::NothingLeft(pid_t pgid) const {
  // A live descendant of an ended task is in its process group or, having left the group,
  // below a process of the tree or, once its parent died, a child of ours (we are its
  // subreaper). So an empty group (pgid 0) and no children but live tasks' main processes
  // mean nothing is left, without reading every process's stat.
  if (pgid > 1) return false;  // RunSweep clears the pgid of an empty group
  for (pid_t child : ListChildren()) {
    if (live_pids_.count(child) == 0 && !ChildReaper::Instance().IsWatched(child)) return false;
  }
  return true;
}

void TaskSupervisor::CollectLeftovers() {
  if (shut_down_) return;
  std::set<std::string> active;
  for (const auto& [key, task] : tasks_) {
    if (task.running()) active.insert(task.marker);
  }
  for (const auto& [id, sweep] : sweeps_) active.insert(sweep.marker);
  if (config_.isolation != nullptr) {
    std::set<model::TaskKey> keep;
    for (const auto& [key, task] : tasks_) {
      if (task.running()) keep.insert(key);
    }
    for (const auto& [id, sweep] : sweeps_) {
      if (sweep.cgroup) keep.insert(*sweep.cgroup);
    }
    config_.isolation->CollectLeftovers(keep);
  }
  for (const MarkedProcess& p : FindMarkedChildren(config_.node_name + "/", live_pids_)) {
    if (active.count(p.marker) != 0) continue;
    Log(LogLevel::kInfo, "killing leftover process {} of task {}", p.pid, p.marker);
    SignalSubtree(p.pid, SIGKILL);
  }
}

void TaskSupervisor::SampleUsage() {
  if (shut_down_ || config_.isolation == nullptr) return;
  for (auto& [key, task] : tasks_) {
    if (!task.running()) continue;
    if (auto usage = config_.isolation->Usage(key)) task.usage = usage;
  }
}

std::vector<model::TaskReport> TaskSupervisor::Snapshot() const {
  std::vector<model::TaskReport> reports;
  reports.reserve(tasks_.size());
  for (const auto& [key, task] : tasks_) reports.push_back(PublicReportOf(task));
  return reports;
}

model::TaskReport TaskSupervisor::ReportOf(const Task& task) const {
  model::TaskReport report;
  report.key = task.key;
  report.phase = task.running() ? model::TaskPhase::kRunning : model::TaskPhase::kExited;
  report.start_time = task.start_time;
  report.end_time = task.end_time;
  report.exit = task.exit;
  report.usage = task.usage;
  return report;
}

model::TaskReport TaskSupervisor::PublicReportOf(const Task& task) const {
  if (task.running() || task.durable) return ReportOf(task);
  model::TaskReport report;  // ended, but not durable yet: still running to the controller
  report.key = task.key;
  report.phase = model::TaskPhase::kRunning;
  report.start_time = task.start_time;
  report.usage = task.usage;
  return report;
}

void TaskSupervisor::Acknowledge(const std::vector<model::TaskKey>& exited, std::int64_t version) {
  for (const model::TaskKey& key : exited) {
    auto it = tasks_.find(key);
    if (it == tasks_.end() || !it->second.durable) continue;
    tombstones_[key] = version;
    tasks_.erase(it);
    journal_.RecordAck(key, version);
    files_.Remove(key);
  }
}

void TaskSupervisor::CancelTimer(TimerId& id) {
  if (id != 0) loop_.Cancel(id);
  id = 0;
}

void TaskSupervisor::Shutdown() {
  if (shut_down_) return;
  for (const auto& [pid, key] : by_pid_) ChildReaper::Instance().Unwatch(pid);
  DrainExits();      // exits reaped before the Unwatch
  journal_.Close();  // makes them durable
  shut_down_ = true;
  for (auto& [key, task] : tasks_) {
    CancelTimer(task.limit_timer);
    CancelTimer(task.warn_timer);
    CancelTimer(task.kill_timer);
    CancelTimer(task.poll_timer);
  }
  for (auto& [id, sweep] : sweeps_) CancelTimer(sweep.timer);
  sweeps_.clear();
  by_pid_.clear();
  live_pids_.clear();
}

}  // namespace weft::agent
