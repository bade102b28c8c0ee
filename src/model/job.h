// Jobs: what a user asked for (JobSpec), where it runs (Allocation), and what happened
// (Job with its per-rank TaskRecords). Value types only; the controller owns the instances.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "model/resources.h"

namespace weft::model {

using JobId = std::int64_t;

enum class JobState {
  kPending,
  kRunning,
  kCompleted,
  kFailed,
  kCancelled,
  kTimeout,
  kOomKilled,
  kNodeFail,
  kPreempted,
};

std::string_view ToString(JobState state);
std::optional<JobState> ParseJobState(std::string_view text);
bool IsFinal(JobState state);
// The lifecycle table: PENDING → RUNNING → final; PENDING → CANCELLED; a preempted or
// node-failed job with retries left goes RUNNING → PENDING. Everything else is refused.
bool CanTransition(JobState from, JobState to);

// sbatch --array: the task indices, as ranges, and the throttle. An empty `ranges` means the
// job is not an array.
struct ArrayRange {
  int first = 0;
  int last = 0;  // inclusive, >= first
  int step = 1;  // >= 1
  bool operator==(const ArrayRange&) const = default;
};
struct ArraySpec {
  std::vector<ArrayRange> ranges;
  int max_running = 0;  // %N: at most N tasks running at once; 0 = no limit
  bool empty() const { return ranges.empty(); }
  // Every index, ascending, without duplicates.
  std::vector<int> Indices() const;
  bool operator==(const ArraySpec&) const = default;
};
// "0-15:4,20%2": ranges as written by sbatch (a single index alone), then the throttle.
std::string ToString(const ArraySpec& array);

// sbatch --dependency. after: the job has started (or ended without starting); afterany: it
// has ended; afterok: it COMPLETED; afternotok: it ended in any other state; singleton: no
// other job with the same name and user is running.
enum class DependencyType { kAfter, kAfterAny, kAfterOk, kAfterNotOk, kSingleton };
std::string_view ToString(DependencyType type);
std::optional<DependencyType> ParseDependencyType(std::string_view text);

struct DependencyTerm {
  DependencyType type = DependencyType::kAfterOk;
  std::vector<JobId> jobs;  // empty for singleton; an array job id stands for all its tasks
  bool operator==(const DependencyTerm&) const = default;
};
struct Dependency {
  std::vector<DependencyTerm> terms;  // empty = no dependency
  bool any = false;                   // '?': one term suffices; ',': every term must hold
  bool empty() const { return terms.empty(); }
  bool operator==(const Dependency&) const = default;
};
// "afterok:3:4,singleton" (or '?'-separated when `any`).
std::string ToString(const Dependency& dependency);

// sbatch --signal=[{R|B}:]SIG[@SECS]: the signal a job wants as warning, `before` its time
// limit ends (sent by the agent), and instead of SIGTERM when it is preempted.
struct SignalSpec {
  int signal = 0;                                       // 1..64
  Duration before = std::chrono::seconds(60);           // SECS, Slurm's default 60
  bool batch_only = false;  // "B:": the time-limit warning goes to the batch shell alone
  bool operator==(const SignalSpec&) const = default;
};

// Requeues a preempted job gets when it asks for none (`max_retries` unset) and has
// `requeue` (the default for preemptible jobs, as Slurm requeues preempted batch jobs).
inline constexpr int kDefaultPreemptRequeues = 5;

struct JobSpec {
  std::string name;
  int num_nodes = 1;
  Resources per_node;            // per node (rank); cpu = cpus_per_task * tasks_per_node
  int cpus_per_task = 1;         // -c, for SLURM_CPUS_PER_TASK
  int tasks_per_node = 1;        // --ntasks-per-node / -n, for SLURM_NTASKS*
  std::string gpu_model;         // "" = any model
  std::optional<Duration> time_limit;  // nullopt = no limit
  int priority = 0;              // higher runs first
  std::string queue;             // -A / YAML queue
  std::vector<std::string> pools;  // -p, failover order; empty = any
  // --max-pending: a job pending in one pool longer than this (on the agents, or queued inside
  // a slurm pool) moves on to the next pool of `pools`; nullopt = it waits where it is.
  std::optional<Duration> max_pending;
  // A fixed port every rank listens on, on its node's address (a service's `port:`): no two
  // jobs holding the same one share a node (as Kubernetes' hostPort). 0 = none.
  int host_port = 0;
  bool exclusive = false;        // whole nodes
  // May be preempted (by higher --priority work, or when lent quota is reclaimed); a job
  // without it is never preempted.
  bool preemptible = false;
  // Requeues left to a preempted job: requeued (PENDING, restart_count + 1) while
  // restart_count < max_retries, else it ends PREEMPTED. The spec layer defaults it to
  // kDefaultPreemptRequeues for jobs with `requeue` (preemptible jobs by default).
  int max_retries = 0;
  bool requeue = false;
  std::optional<SignalSpec> signal;  // --signal; nullopt: SIGTERM on preemption, no warning
  std::string script;            // full text, starting with #!
  std::vector<std::string> args;  // passed to the script
  std::map<std::string, std::string> env;  // exported to every rank
  std::string submit_dir;        // absolute; where the job was submitted
  std::string work_dir;          // absolute; --chdir, defaults to submit_dir
  std::string output_pattern;    // -o, "" = default
  std::string error_pattern;     // -e, "" = merged into output
  std::string user;
  ArraySpec array;               // --array; empty = a single job
  Dependency dependency;         // --dependency; empty = none
  // --topology: "" = anywhere; "switch", "rack" or "zone": every rank on nodes sharing that
  // label's value.
  std::string topology;
  // --require-isolation: only nodes that enforce memory, CPU and process limits (and fence
  // GPUs, on nodes with real ones) may run it.
  bool require_isolation = false;
  // Inference services (src/serve): the service this job is a replica of ("" = a batch job)
  // and the service generation (`weft serve update` count) it runs.
  std::string service;
  int service_generation = 0;
};

// Resources one rank holds on one node.
struct NodeAllocation {
  std::string node;
  Resources resources;
  std::vector<int> gpu_ids;  // slot indices on that node
};

struct Allocation {
  std::vector<NodeAllocation> ranks;  // index = rank
};

enum class TaskPhase { kAssigned, kRunning, kExited };
std::string_view ToString(TaskPhase phase);

// How one rank ended, as the agent reported it.
struct TaskExit {
  int exit_code = 0;        // 128+signal when killed by a signal
  int signal = 0;           // 0 = exited normally
  bool timed_out = false;   // killed for passing the time limit
  bool oom_killed = false;
  bool killed_by_agent = false;  // killed because it was no longer wanted (cancel, gang teardown)
  bool preempted = false;  // stopped by the agent on the controller's preemption stop request
  bool node_failed = false;  // its node stopped answering: recorded by the controller, not an agent
};

// What one rank used, as its agent measured it (cgroup counters, NVML): the totals so far
// while it runs, the final ones once it has exited.
struct TaskUsage {
  std::int64_t cpu_usec = 0;              // user + system CPU time of the whole tree
  std::int64_t memory_peak_bytes = 0;     // 0 = not measured
  std::int64_t memory_current_bytes = 0;  // while running
  std::int64_t memory_limit_bytes = 0;    // the enforced hard limit; 0 = none
  int gpu_utilization = -1;               // mean percent over its GPUs' samples; -1 = unknown
  bool operator==(const TaskUsage&) const = default;
};

struct TaskRecord {
  TaskPhase phase = TaskPhase::kAssigned;
  std::optional<TimePoint> start_time;
  std::optional<TimePoint> end_time;
  std::optional<TaskExit> exit;
  std::string output_path;  // resolved stdout file
  std::string error_path;   // resolved stderr file ("" = merged)
  std::optional<TaskUsage> usage;  // the latest the agent reported
};

// One run of a job, as `weft history` shows it: a requeued job runs again as a new attempt.
// Recorded when the attempt's last rank has exited.
struct AttemptRecord {
  int attempt = 0;                     // the job's restart_count during this run
  JobState state = JobState::kCompleted;  // how it ended; PREEMPTED when it was requeued
  std::string reason;
  TimePoint start_time{};
  TimePoint end_time{};
  int exit_code = 0;
  int exit_signal = 0;
  std::vector<std::string> nodes;      // rank order
  std::int64_t cpu_usec = 0;           // all ranks
  std::int64_t memory_peak_bytes = 0;  // the largest rank's peak
  std::int64_t memory_limit_bytes = 0; // per rank; 0 = not limited
  std::int64_t gpu_usec = 0;           // GPUs allocated × elapsed
  int gpu_utilization = -1;            // mean percent; -1 = unknown
  bool operator==(const AttemptRecord&) const = default;
};

struct Job {
  JobId id = 0;
  JobSpec spec;
  JobState state = JobState::kPending;
  std::string reason;  // why pending, or how it ended
  TimePoint submit_time{};
  std::optional<TimePoint> start_time;
  std::optional<TimePoint> end_time;
  // PENDING only: when the scheduler's reservation expects the job to start. Recomputed by
  // every cycle (not a state transition); nullopt while the job has no reservation.
  std::optional<TimePoint> expected_start;
  int exit_code = 0;
  int exit_signal = 0;
  int restart_count = 0;
  // Preemption. While RUNNING with `preempted_at` set the job is being stopped for
  // `preempted_by` (its ranks got a stop request); once every rank has exited it is requeued
  // (PENDING, restart_count + 1) or ends PREEMPTED. Cleared on requeue, except
  // `preemption_reason`, which keeps the last preemption for `weft show`.
  std::optional<TimePoint> preempted_at;
  JobId preempted_by = 0;
  std::string preemption_reason;  // e.g. "preempted by job 7 (priority 100 > 0)"; "" = never
  // Node failure. While RUNNING with `node_failed_at` set, a node holding one of its ranks
  // stopped answering: its ranks there count as exited, the others are being killed (agents
  // no longer get them); once every rank has exited the job is requeued (--requeue with
  // retries left) or ends NODE_FAIL. Cleared on requeue, except `node_failure`, which keeps
  // the last one for `weft show`.
  std::optional<TimePoint> node_failed_at;
  std::string node_failure;  // e.g. "node n2 stopped answering (no heartbeat for 30s)"
  int master_port = 0;
  std::string idempotency_key;  // the client's key for its submission ("" = none)
  JobId array_job_id = 0;   // the array's first task id (SLURM_ARRAY_JOB_ID); 0 = not in an array
  int array_task_id = -1;   // this task's index (SLURM_ARRAY_TASK_ID); -1 = not in an array
  // Jobs of a backend pool (slurm): the pool its current attempt was handed to, set durably
  // before the submission (the intent), and the backend's id for it (the Slurm job id), set
  // durably once the backend accepted it. Both "" for jobs on Weft's own agents.
  std::string backend_pool;
  std::string backend_id;
  Allocation allocation;         // empty while pending
  std::vector<TaskRecord> tasks;  // one per rank while running or finished
  std::vector<AttemptRecord> attempts;  // every run that has ended, oldest first

  // True while any rank may still hold resources on its node (assigned or running).
  bool HoldsResources() const;
};

}  // namespace weft::model
