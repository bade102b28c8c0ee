// The controller's logic, transport-agnostic: accepts jobs, runs scheduling cycles, tells
// agents what to run, and records what happened. Every method runs on the loop thread that
// owns this object (the API posts to it); callbacks run on that thread too. State changes
// become visible outside (replies, agent assignments) only after they are durable.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "common/error.h"
#include "common/event_loop.h"
#include "controller/dependencies.h"
#include "controller/node_registry.h"
#include "controller/persister.h"
#include "model/job.h"
#include "model/queue.h"
#include "model/task.h"
#include "model/user.h"
#include "sched/fair_share.h"
#include "sched/scheduler.h"
#include "store/state_repository.h"

namespace weft::controller {

// Instrumentation hook (metrics): plain notifications, no HTTP and no clock of its own.
// Called on the loop thread; implementations must be cheap and must not call back into the
// controller. OnCycleBegin/OnCycleEnd bracket every scheduling cycle so that an observer can
// time it with its own (wall) clock; the controller never reads one for this, so simulated
// runs stay deterministic.
class ControllerObserver {
 public:
  virtual ~ControllerObserver() = default;
  virtual void OnJobSubmitted(const model::Job& /*job*/) {}  // durable and acknowledged
  virtual void OnJobStarted(const model::Job& /*job*/) {}  // became RUNNING (start_time set)
  virtual void OnJobFinished(const model::Job& /*job*/) {}  // reached a final state
  virtual void OnCycleBegin() {}
  virtual void OnCycleEnd() {}
};

struct ControllerOptions {
  Duration node_timeout = std::chrono::seconds(30);  // silent longer → node DOWN
  int master_port_first = 20000;                      // MASTER_PORT range handed to jobs
  int master_port_count = 10000;
  std::string cluster_name = "weft";
  model::ClusterConfig config;  // queues (none configured: one unlimited "default" queue)
  // Tests: before every cycle, compare the incrementally maintained cluster snapshot with one
  // built from scratch and abort on the first difference (costs a full build per cycle).
  bool check_snapshot = false;
  ControllerObserver* observer = nullptr;  // metrics hook (see above); not owned, may be null
  // Declare nodes silent past node_timeout DOWN and fail (or requeue) the jobs running there.
  // The simulator, whose agents only speak when something happens, turns it off.
  bool detect_node_failures = true;
  // Pools run by a backend other than Weft's agents (slurm), by pool name; not owned, must
  // outlive the controller. A job whose first pool is one of them is handed to it instead of
  // the scheduler (docs/architecture.md, "Slurm backend").
  std::map<std::string, backend::Backend*> backends;
  Duration backend_poll_interval = std::chrono::seconds(1);  // squeue/sinfo cadence
};

struct JobFilter {
  std::set<model::JobState> states;  // empty = all
  std::size_t limit = 0;             // 0 = no limit; newest first when limited
  std::string user;                  // "" = every user's
};

// A node as `weft nodes` shows it.
struct NodeStatus {
  model::Node node;
  model::NodeState state = model::NodeState::kUp;
  model::Resources allocated;
  std::vector<model::JobId> jobs;
};

// A backend pool (slurm) as `weft nodes` shows it: usable or why not.
struct PoolStatus {
  std::string name;
  std::string backend;             // "slurm"
  std::string unavailable_reason;  // "" = usable (as of the last sinfo)
  bool listed = false;             // its nodes have been listed at least once
};

// A queue as `weft queues` shows it.
struct QueueStatus {
  model::QueueConfig config;
  model::Resources usage;     // held by its running jobs
  model::Resources borrowed;  // usage above the nominal quota
  model::Resources pending_demand;
  int running_jobs = 0;
  int pending_jobs = 0;
  double decayed_usage = 0;  // billing-seconds, decayed with the fair-share half-life
  double fair_share = 1.0;   // 2^(-usage share / weight share)
};

class Controller {
 public:
  using JobCallback = std::function<void(Result<model::Job>)>;

  Controller(EventLoop& loop, Persister& persister, ControllerOptions options);

  // Loads durable state (after a restart). Call once, before serving.
  void Restore(store::DurableState state);

  // Validates, checks that some node could ever run it, stores it, and answers with the
  // PENDING job once durable. Bad input: kInvalidArgument naming the field. A spec with an
  // array creates one job per index in one durable batch (consecutive ids; the first is the
  // array job id) and answers with the first task. Every job a dependency names must exist.
  // `idempotency_key` (optional): a retried submission with the same key and user answers
  // with the job the first one created, instead of creating another.
  void Submit(model::JobSpec spec, JobCallback done, std::string idempotency_key = "");
  // Ends a pending or running job as CANCELLED (its ranks are killed by their agents); an
  // array job id cancels every task of the array that has not ended, and answers with the
  // first task. kNotFound for an unknown id, kFailedPrecondition when all has already ended.
  void Cancel(model::JobId id, JobCallback done);

  // API users (the API authenticates with them). Every record, revoked ones included.
  using UserCallback = std::function<void(Result<model::User>)>;
  const std::map<std::string, model::User>& Users() const { return users_; }
  // Stores a new user (or one replacing a revoked user of that name), answering once durable
  // with the record as stored. kAlreadyExists when an active user has the name.
  void AddUser(model::User user, UserCallback done);
  // Marks the user revoked, durably; its token stops working. kNotFound for no active user.
  void RevokeUser(const std::string& name, UserCallback done);

  // weft node drain/resume: a draining node takes no new work; what runs there finishes.
  // Durable in the node record; answers with the node once stored. kNotFound for no node.
  using NodeCallback = std::function<void(Result<model::Node>)>;
  void SetDrain(const std::string& name, bool drain, std::string reason, NodeCallback done);

  const model::Job* FindJob(model::JobId id) const;
  // Visits matching jobs in id order (newest first when filter.limit is set).
  void ForEachJob(const JobFilter& filter, const std::function<void(const model::Job&)>& visit) const;
  // Agents' nodes, then every backend pool's nodes as its backend last listed them.
  std::vector<NodeStatus> ListNodes() const;
  std::vector<PoolStatus> ListPools() const;
  std::vector<QueueStatus> ListQueues() const;
  // A pending job's priority now, with its factors (`weft queue -o json` shows them).
  sched::PriorityFactors PriorityOf(const model::Job& job) const;

  // An agent's level-triggered report. Answers with the node's assignment version once the
  // exits in it are durable.
  void ReportNode(model::NodeReport report, std::function<void(Result<std::int64_t>)> done);
  // Long poll: answers with the node's assignments at once when its version differs from
  // `version`, else at the next change or after `wait`.
  void WatchNode(const std::string& node, std::int64_t version, Duration wait,
                 std::function<void(model::NodeAssignments)> done);
  model::NodeAssignments AssignmentsFor(const std::string& node) const;
  // Long poll on a job: answers once it has ended and released its nodes (or after `wait`)
  // with its current record. kNotFound for an unknown id.
  void WaitJob(model::JobId id, Duration wait, JobCallback done);

 private:
  struct JobEntry {
    model::Job job;
    // The last durable state is RUNNING: only then do agents get the job's tasks.
    bool published_running = false;
    // Its preemption (preempted_at) is durable: only then do agents get the stop request.
    bool published_stop = false;
    // BuildAssignment for every rank of the current attempt, built at the first
    // AssignmentsFor that needs one (agents ask again at every change on their node).
    // Cleared when the allocation changes and when any node record changes (addresses).
    mutable std::vector<model::TaskAssignment> assignments;
  };

  // The cached assignment of `entry`'s rank `rank` (see JobEntry::assignments).
  const model::TaskAssignment& AssignmentOf(const JobEntry& entry, std::size_t rank) const;
  // Checks the spec's queue exists and applies its default time limit.
  Result<> ApplyQueue(model::JobSpec& spec) const;
  static std::string QueueOf(const model::Job& job);      // "" means the default queue
  static model::Resources JobTotal(const model::Job& job);  // all ranks together
  std::map<std::string, model::Resources> QueueUsage() const;  // of jobs holding resources
  // Schedules a cycle over every pending job: resources were freed or nodes changed.
  void MarkDirty();
  // Schedules a cycle over just-submitted jobs. Enough while nothing was freed: every older
  // pending job failed to fit last time and free resources have only shrunk since.
  void MarkSubmitted(model::JobId id);
  void RunCycle();
  // Before a cycle: makes every job holding a reservation a candidate (a partial cycle must
  // not start a new job in front of one without respecting it) and forgets the reservations
  // with their expected starts; the cycle's result sets them again.
  void AddReservedCandidates(std::vector<sched::PendingJob>& pending);
  // Drops from a cycle's `candidates` the jobs that must wait (reason "Dependency" for an
  // unmet dependency or singleton, "JobArrayTaskLimit" beyond an array's %N throttle) and
  // ends as FAILED, durably, those whose dependency can never be met.
  void HoldBackCandidates(std::vector<sched::PendingJob>& candidates);
  // Adds a job just made PENDING to constrained_ when it has a dependency or an array throttle.
  void NoteConstrained(const model::Job& job);
  // The jobs a dependency on `id` refers to: the job, or every task of the array `id` names.
  std::vector<DependencyTarget> DependencyTargets(model::JobId id) const;
  // The cluster as the scheduler sees it, built from scratch: every node (UP only unless
  // `include_down`) with what the active jobs hold on it, and the running allocations.
  sched::ClusterSnapshot BuildSnapshot(bool include_down) const;
  // What BuildSnapshot(false) would return now, maintained incrementally: only the nodes and
  // jobs marked since the last call are recomputed; a change in the set of UP nodes or in a
  // node's record rebuilds it all. Valid until the next state change.
  const sched::ClusterSnapshot& CurrentSnapshot();
  // Marks what `job` touches for CurrentSnapshot: its running entry and every node it has a
  // rank on. Call whenever its allocation, task phases, preemption or activity change (before
  // the allocation is forgotten).
  void TouchSnapshot(const model::Job& job);
  // The running entry BuildSnapshot makes for an active job; `on_snapshot` says whether a
  // node is in the snapshot (ranks elsewhere are left out). Empty ranks = no entry.
  sched::RunningAllocation RunningFor(const model::Job& job,
                                      const std::function<bool(const std::string&)>& on_snapshot) const;
  // Recomputes one node view's free resources, GPU slots and idleness from its capacity and
  // the active jobs with a rank on it.
  void RecomputeView(sched::NodeView& view) const;
  // Keeps jobs_on_node_ in step with active_.
  void IndexActive(const model::Job& job);
  void UnindexActive(const model::Job& job);
  static sched::PendingJob ToPending(const model::Job& job);
  void StartJob(JobEntry& entry, model::Allocation allocation);
  // Preemption (docs/architecture.md, "Preemption"). Marks each victim as being stopped
  // for `decision.preemptor` (durable in `batch`; agents get the stop request once published)
  // and gives the preemptor its hold.
  void ApplyPreemption(const sched::PreemptDecision& decision, store::WriteBatch& batch,
                       std::vector<model::JobId>& changed);
  // Before a cycle: adds pending preemptors missing from a partial cycle's `pending` and
  // flags every one (PendingJob::preemption_hold, victims_stopping); forgets victims that
  // have stopped. After it, EndHolds drops the holds of preemptors that started or left
  // PENDING, and of those whose victims had all stopped before this cycle (their one cycle
  // in front is over; if they still do not fit they may preempt again).
  void AddPreemptionHolders(std::vector<sched::PendingJob>& pending);
  void EndHolds();
  // A preempted job's, or a job with a failed node's, last rank has exited: requeue it
  // (retries left; for node failures only with --requeue) or end it PREEMPTED / NODE_FAIL.
  void EndInterruptedAttempt(JobEntry& entry);
  // Node failure (docs/architecture.md, "Node failure"): every node_timeout/4, nodes silent
  // past node_timeout are declared DOWN and the jobs with a rank there interrupted.
  void ScheduleNodeCheck();
  void CheckNodes();
  void FailJobsOn(const std::string& node);
  // True when `report` shows a running task that is not a current rank on its node (a job
  // that failed over, was cancelled or requeued meanwhile): its node stays fenced.
  bool RunsStaleTasks(const model::NodeReport& report) const;
  // The stop request the victim's ranks get: its --signal (else SIGTERM) and the grace.
  model::StopRequest StopRequestFor(const model::Job& job) const;
  // Applies one task exit to its job; returns true when the job changed.
  bool ApplyExit(JobEntry& entry, int rank, const model::TaskReport& report);
  void Finish(model::Job& job, model::JobState state, std::string reason);
  void Release(model::Job& job);  // after the last rank has exited
  int AllocatePort();
  // After a batch about `jobs` is durable: publish their running state and wake their nodes.
  void Publish(const std::vector<model::JobId>& jobs, const std::set<std::string>& extra_nodes);

  // ---- backend pools (backend_jobs.cc) ----
  // The backend of the pool `spec` runs on, null for Weft's own agents.
  backend::Backend* BackendFor(const model::JobSpec& spec) const;
  // The job's current attempt belongs to a backend: handed to one (backend_pool), or routed to
  // its first pool, a backend pool, and not failed over from it (no attempt recorded yet).
  bool OnBackend(const model::Job& job) const;
  // The first pool after `after` in the job's failover order ("" = from the start) that is
  // a backend pool, "" when none is.
  std::string NextBackendPool(const model::JobSpec& spec, const std::string& after) const;
  // Records the intent (backend_pool = `pool`, durable), then submits the job's current attempt.
  void SubmitToBackend(model::JobId id, const std::string& pool);
  // The gate in front of SubmitToBackend: a job of a backend pool counts against its queue's
  // quota from its submission there to its end, like a running job. While the quota does not
  // admit it, it waits in Weft (reason QuotaExceeded) and RouteBetweenPools submits it later.
  void RouteToBackend(model::JobId id, const std::string& pool);
  // Each backend poll: submits the jobs that waited for quota; moves jobs pending in one pool
  // longer than their max_pending on to the next pool (from the agents into a backend pool,
  // or out of a backend queue with scancel --state=PENDING); bursts work that would queue on
  // an agents pool with `burst: true` into a backend pool that has room for it.
  void RouteBetweenPools();
  void SubmitAwaitingQuota();
  void MoveOnAfterMaxPending(TimePoint now, std::vector<model::JobId>& changed);
  void Burst(std::vector<model::JobId>& changed);
  // Takes a pending job off the agents' queue and routes it to backend pool `pool`; `why`
  // (when not empty) is recorded as an attempt that ended where it was.
  void LeaveAgentsFor(model::JobId id, const std::string& pool, const std::string& why);
  // The backend pool a pending agents job may burst into, "" when none.
  std::string BurstTarget(const model::JobSpec& spec) const;
  // When the job entered its current pool: its submission, or its last attempt's end.
  static TimePoint EnteredPoolAt(const model::Job& job);
  bool QuotaAdmits(const model::Job& job) const;
  // Why backend pool `pool` could never run the job, from its last listing ("" = it could, or
  // the pool is not listed yet: then sbatch decides).
  std::string NeverFitsIn(const std::string& pool, const model::Job& job) const;
  void HoldInBackend(const model::Job& job);
  void ReleaseFromBackend(model::JobId id);
  // Failover: the job's current pool could not run it (`why`, one sentence). Recorded as an
  // attempt; the job moves on to the next pool of its list (a backend pool, or the agents'
  // pools through the scheduler), or ends FAILED when none is left.
  // `ended_as`: the attempt's state (FAILED; PENDING when it only waited too long there).
  void FailOver(model::JobId id, const std::string& why, model::JobState ended_as = model::JobState::kFailed);
  void SubmitNow(model::JobId id);  // the intent is durable
  void OnBackendSubmitted(model::JobId id, int attempt, Result<std::string> backend_id);
  // After Restore: re-attaches a job living in a backend by its id, or finds it by its
  // (job, attempt) before ever submitting it again.
  void ReattachBackendJob(model::JobId id);
  void StartBackendTimer();
  void PollBackends();
  void ApplyBackendUpdates(const std::string& pool, std::vector<backend::BackendJobUpdate> updates);
  void CancelOnBackend(const model::Job& job);
  // Writes `ids`' records and, once durable, publishes them (wakes waiters of ended jobs).
  void PersistJobs(std::vector<model::JobId> ids);
  struct BackendPool {
    backend::Backend* backend = nullptr;
    bool polling = false, listing = false;
    int polls_since_listing = 0;
    backend::PoolNodes nodes;
    bool listed = false;
  };
  static constexpr int kListEvery = 5;  // backend polls per listing of a usable pool's nodes
  std::map<std::string, BackendPool> backend_pools_;
  bool backend_timer_started_ = false;
  // What jobs submitted to backend pools hold against their queues' quotas: id → (queue,
  // whole job); QueueUsage adds it to held_by_queue_.
  std::map<model::JobId, std::pair<std::string, model::Resources>> backend_held_;
  std::map<model::JobId, std::string> awaiting_quota_;   // backend-bound, held for quota: id → pool
  std::map<model::JobId, std::string> leaving_backend_;  // scancel --state=PENDING sent: id → why

  EventLoop& loop_;
  Persister& persister_;
  ControllerOptions options_;
  sched::Scheduler scheduler_;
  sched::UsageLedger usage_ledger_;  // fair-share usage per queue, advanced at each cycle
  NodeRegistry nodes_;
  std::map<model::JobId, JobEntry> jobs_;
  // State PENDING, with the scheduler's view of each kept ready (cycles run often).
  std::map<model::JobId, sched::PendingJob> pending_;
  std::set<model::JobId> active_;   // holding resources on some node
  // Node → the active jobs with a rank there (exited ranks included until the job leaves
  // active_), kept with active_ so that one node's assignments and view cost O(its jobs).
  std::map<std::string, std::set<model::JobId>, std::less<>> jobs_on_node_;
  // CurrentSnapshot's state. `up` is each registry node's UP flag (registry order) when the
  // snapshot was built; a difference, or a node record change (`valid` false), rebuilds it.
  struct SnapshotCache {
    bool valid = false;
    sched::ClusterSnapshot snapshot;
    std::map<std::string, std::size_t, std::less<>> index;  // node name → snapshot.nodes slot
    std::vector<bool> up;
    std::vector<bool> node_dirty;          // per snapshot.nodes slot
    std::vector<std::size_t> dirty_nodes;  // the slots flagged in node_dirty
    std::vector<model::JobId> dirty_jobs;  // may repeat
  };
  SnapshotCache cache_;
  // What the active jobs hold, per queue (kept with active_; absent = nothing). The usage
  // ledger is advanced before it changes, so each interval is billed at the rate it ran.
  std::map<std::string, model::Resources> held_by_queue_;
  model::JobId next_job_id_ = 1;
  std::map<std::string, model::User> users_;
  // (user, idempotency key) → the job its first submission created.
  std::map<std::pair<std::string, std::string>, model::JobId> idempotency_;
  std::set<std::string> down_nodes_;    // declared DOWN (their jobs interrupted), not yet back
  std::set<std::string> fenced_nodes_;  // back from DOWN, may still run stale ranks: no new work
  struct JobWaiter {
    TimerId timer;
    JobCallback done;
  };
  void WakeJobWaiters(model::JobId id);
  std::map<model::JobId, std::map<std::uint64_t, JobWaiter>> job_waiters_;
  std::uint64_t next_waiter_id_ = 1;
  std::set<int> ports_in_use_;
  int next_port_offset_ = 0;
  bool cycle_posted_ = false;
  bool start_releases_dependents_ = false;  // some pending job waits on after:; a start re-runs a cycle
  bool full_cycle_ = true;              // next cycle considers every pending job
  std::set<model::JobId> submitted_;    // pending jobs no cycle has considered yet
  // Every pending job with a dependency or an array throttle (the only ones
  // HoldBackCandidates may hold back), and some that have left PENDING since (pruned there).
  std::set<model::JobId> constrained_;
  std::set<model::JobId> reserved_;     // jobs the last cycle gave a reservation (expected_start)
  std::optional<sched::ClusterSnapshot> capacity_snapshot_;  // for feasibility; reset on node changes
  // Preemption holds: pending preemptor → its victims still stopping. Not durable: after a
  // restart the victims finish stopping (their preempted_at is durable) and the preemptor
  // competes by priority again, preempting anew if it must.
  std::map<model::JobId, std::set<model::JobId>> preemptors_;
};

}  // namespace weft::controller
