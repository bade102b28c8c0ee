#include "controller/controller.h"

#include "controller/accounting.h"

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/log.h"
#include "controller/task_environment.h"
#include "sched/fair_share.h"
#include "sched/quota.h"
#include "spec/job_spec_parser.h"

namespace weft::controller {

using model::Job;
using model::JobId;
using model::JobState;

namespace {

// check_snapshot: the first field where the maintained snapshot differs from a fresh one, or
// "" when they are equal in every field the scheduler reads (queues only by count: both copy
// them from the same constant options).
std::string SnapshotDifference(const sched::ClusterSnapshot& cached, const sched::ClusterSnapshot& fresh) {
  if (cached.nodes.size() != fresh.nodes.size()) {
    return fmt::format("{} nodes, fresh {}", cached.nodes.size(), fresh.nodes.size());
  }
  for (std::size_t i = 0; i < fresh.nodes.size(); ++i) {
    const sched::NodeView& a = cached.nodes[i];
    const sched::NodeView& b = fresh.nodes[i];
    if (a.name != b.name || a.pool != b.pool || a.capacity != b.capacity || a.free != b.free ||
        a.gpu_free != b.gpu_free || a.gpu_model != b.gpu_model || a.labels != b.labels ||
        a.schedulable != b.schedulable || a.idle != b.idle || a.isolated != b.isolated ||
        a.host_ports != b.host_ports) {
      return fmt::format("node {} (fresh {}): free {} (fresh {}), idle {} (fresh {})", a.name, b.name,
                         model::Describe(a.free), model::Describe(b.free), a.idle, b.idle);
    }
  }
  if (cached.running.size() != fresh.running.size()) {
    return fmt::format("{} running, fresh {}", cached.running.size(), fresh.running.size());
  }
  for (std::size_t i = 0; i < fresh.running.size(); ++i) {
    const sched::RunningAllocation& a = cached.running[i];
    const sched::RunningAllocation& b = fresh.running[i];
    bool same = a.job_id == b.job_id && a.expected_end == b.expected_end &&
                a.preemptible == b.preemptible && a.priority == b.priority &&
                a.start_time == b.start_time && a.queue == b.queue && a.stopping == b.stopping &&
                a.ranks.size() == b.ranks.size();
    for (std::size_t r = 0; same && r < b.ranks.size(); ++r) {
      same = a.ranks[r].node == b.ranks[r].node && a.ranks[r].resources == b.ranks[r].resources &&
             a.ranks[r].gpu_ids == b.ranks[r].gpu_ids;
    }
    if (!same) return fmt::format("running job {} (fresh {})", a.job_id, b.job_id);
  }
  if (cached.queue_usage != fresh.queue_usage) return "queue usage";
  if (cached.queues.size() != fresh.queues.size()) return "queues";
  return "";
}

}  // namespace

Controller::Controller(EventLoop& loop, Persister& persister, ControllerOptions options)
    : loop_(loop),
      persister_(persister),
      options_(std::move(options)),
      scheduler_(sched::ProfileFor(options_.config.scheduler)),
      usage_ledger_(options_.config.scheduler.fair_share_half_life),
      nodes_(loop, options_.node_timeout) {
  if (options_.detect_node_failures) ScheduleNodeCheck();
  for (const auto& [pool, backend] : options_.backends) backend_pools_[pool].backend = backend;
}

void Controller::ScheduleNodeCheck() {
  // A node is declared down at most a quarter of its timeout late.
  const Duration interval = std::max<Duration>(options_.node_timeout / 4, std::chrono::milliseconds(50));
  loop_.RunAfter(interval, [this] {
    CheckNodes();
    ScheduleNodeCheck();
  });
}

void Controller::CheckNodes() {
  for (const auto& [name, node] : nodes_.nodes()) {
    if (nodes_.StateOf(node) != model::NodeState::kDown || !down_nodes_.insert(name).second) continue;
    fenced_nodes_.erase(name);
    Log(LogLevel::kWarn, "node {} is DOWN: no heartbeat for {} s", name,
        std::chrono::duration_cast<std::chrono::seconds>(options_.node_timeout).count());
    FailJobsOn(name);
    MarkDirty();  // its capacity is gone
  }
}

void Controller::FailJobsOn(const std::string& node) {
  auto on_node = jobs_on_node_.find(node);
  if (on_node == jobs_on_node_.end()) return;
  const TimePoint now = loop_.clock().Now();
  const std::string why = fmt::format("node {} stopped answering (no heartbeat for {} s)", node,
                                      std::chrono::duration_cast<std::chrono::seconds>(options_.node_timeout).count());
  store::WriteBatch batch;
  std::vector<JobId> changed;
  std::set<std::string> other_nodes;
  const std::set<JobId> ids = on_node->second;  // EndInterruptedAttempt edits the index
  for (JobId id : ids) {
    JobEntry& entry = jobs_.at(id);
    Job& job = entry.job;
    if (job.state != JobState::kRunning || job.node_failed_at) continue;
    job.node_failed_at = now;
    job.node_failure = why;
    Log(LogLevel::kWarn, "job {}: {}", id, why);
    TouchSnapshot(job);
    // Its ranks there count as exited (nobody will report them); the others are killed once
    // this is durable (agents stop getting them), and report their exits.
    for (std::size_t r = 0; r < job.allocation.ranks.size(); ++r) {
      model::TaskRecord& task = job.tasks[r];
      if (job.allocation.ranks[r].node != node) {
        other_nodes.insert(job.allocation.ranks[r].node);
        continue;
      }
      if (task.phase == model::TaskPhase::kExited) continue;
      task.phase = model::TaskPhase::kExited;
      task.end_time = now;
      model::TaskExit exit;
      exit.exit_code = -1;
      exit.node_failed = true;
      task.exit = exit;
    }
    if (!job.HoldsResources()) EndInterruptedAttempt(entry);
    batch.push_back(store::PutJob(job));
    changed.push_back(id);
  }
  if (batch.empty()) return;
  persister_.Persist(std::move(batch), [this, changed = std::move(changed), other_nodes] {
    Publish(changed, other_nodes);
  });
}

void Controller::Restore(store::DurableState state) {
  for (model::Node& node : state.nodes) nodes_.Restore(std::move(node));
  for (Job& job : state.jobs) {
    const JobId id = job.id;
    JobEntry& entry = jobs_[id];
    entry.job = std::move(job);
    // A job whose node failed is no longer anyone's to run: its other ranks are killed.
    entry.published_running = entry.job.state == JobState::kRunning && !entry.job.node_failed_at;
    entry.published_stop = entry.published_running && entry.job.preempted_at.has_value();
    if (entry.job.state == JobState::kPending && !OnBackend(entry.job)) {
      pending_.emplace(id, ToPending(entry.job));
      NoteConstrained(entry.job);
    }
    if (entry.job.expected_start) reserved_.insert(id);  // recomputed by the first cycle
    // An array's tasks share the key; the first (lowest id) is the answer.
    if (!entry.job.idempotency_key.empty()) {
      idempotency_.try_emplace({entry.job.spec.user, entry.job.idempotency_key}, id);
    }
    if (entry.job.HoldsResources()) {
      active_.insert(id);
      IndexActive(entry.job);
      held_by_queue_[QueueOf(entry.job)] += JobTotal(entry.job);
      ports_in_use_.insert(entry.job.master_port);
    }
  }
  next_job_id_ = std::max(next_job_id_, state.next_job_id);
  for (model::User& user : state.users) users_[user.name] = std::move(user);
  // Fair-share history is not stored separately: it is what the job records say ran, decayed
  // to now: each job's current attempt, and the earlier ones of requeued jobs.
  const TimePoint now = loop_.clock().Now();
  usage_ledger_.Advance(now, {});
  for (const auto& [id, entry] : jobs_) {
    const Job& job = entry.job;
    for (const model::AttemptRecord& a : job.attempts) {
      if (a.attempt >= job.restart_count) continue;  // the current attempt, counted below
      model::Resources total;
      for (int i = 0; i < job.spec.num_nodes; ++i) total += job.spec.per_node;
      usage_ledger_.AddPast(QueueOf(job), total, a.start_time, a.end_time);
    }
    if (!job.start_time) continue;
    usage_ledger_.AddPast(QueueOf(job), JobTotal(job), *job.start_time, job.end_time.value_or(now));
  }
  for (const auto& [id, entry] : jobs_) {
    if (!model::IsFinal(entry.job.state) && OnBackend(entry.job)) ReattachBackendJob(id);
  }
  StartBackendTimer();
  cache_.valid = false;
  Log(LogLevel::kInfo, "restored {} jobs ({} pending, {} holding resources), {} nodes",
      jobs_.size(), pending_.size(), active_.size(), nodes_.nodes().size());
  MarkDirty();
}

sched::PendingJob Controller::ToPending(const Job& job) {
  sched::PendingJob p;
  p.id = job.id;
  p.num_nodes = job.spec.num_nodes;
  p.per_node = job.spec.per_node;
  p.gpu_model = job.spec.gpu_model;
  p.exclusive = job.spec.exclusive;
  p.pools = job.spec.pools;
  p.priority = job.spec.priority;
  p.own_priority = job.spec.priority;
  p.submit_time = job.submit_time;
  p.queue = QueueOf(job);
  p.time_limit = job.spec.time_limit;
  p.topology = job.spec.topology;
  p.require_isolation = job.spec.require_isolation;
  p.host_port = job.spec.host_port;
  return p;
}

void Controller::Submit(model::JobSpec spec, JobCallback done, std::string idempotency_key) {
  if (!idempotency_key.empty()) {
    auto known = idempotency_.find({spec.user, idempotency_key});
    if (known != idempotency_.end()) {
      // A retry of a submission seen before: the first job, once durable (batches commit in
      // order, so this empty one completes after the first's).
      persister_.Persist({}, [this, id = known->second, done = std::move(done)] { done(jobs_.at(id).job); });
      return;
    }
  }
  if (Result<> valid = spec::Validate(spec); !valid) {
    done(tl::unexpected(valid.error()));
    return;
  }
  for (const model::DependencyTerm& term : spec.dependency.terms) {
    for (JobId ref : term.jobs) {
      if (!jobs_.count(ref)) {
        done(Fail(ErrorCode::kInvalidArgument,
                  fmt::format("dependency: {}:{} names job {}, which does not exist",
                              model::ToString(term.type), ref, ref)));
        return;
      }
    }
  }
  Job job;
  job.spec = std::move(spec);
  if (job.spec.name.empty()) job.spec.name = "job";
  if (Result<> queued = ApplyQueue(job.spec); !queued) {
    done(tl::unexpected(queued.error()));
    return;
  }
  backend::Backend* backend = BackendFor(job.spec);
  std::string backend_pool = backend ? backend->pool() : "";
  if (backend && !job.spec.dependency.empty()) {
    done(Fail(ErrorCode::kInvalidArgument,
              fmt::format("dependency: jobs of pool {} cannot have dependencies yet", backend->pool())));
    return;
  }
  if (!capacity_snapshot_) capacity_snapshot_ = BuildSnapshot(true);
  // A backend pool's own scheduler decides whether it can run the job (sbatch refuses it).
  sched::Verdict feasible =
      backend ? sched::Verdict::Success() : scheduler_.CheckFeasible(ToPending(job), *capacity_snapshot_);
  // Failover at submission: no agents' node of its pools could ever run it, but a later pool
  // of its list is a backend pool (e.g. -p onprem,hpc with more nodes than onprem has).
  if (!feasible.ok() && job.spec.dependency.empty()) {
    backend_pool = NextBackendPool(job.spec, "");
    if (!backend_pool.empty()) {
      backend = backend_pools_.at(backend_pool).backend;
      feasible = sched::Verdict::Success();
    }
  }
  if (!feasible.ok()) {
    done(Fail(ErrorCode::kInvalidArgument, feasible.reason()));
    return;
  }
  job.submit_time = loop_.clock().Now();
  job.reason = "None";
  job.idempotency_key = idempotency_key;
  // One job, or one per array index; all become durable in one batch.
  const std::vector<int> indices = job.spec.array.Indices();
  const JobId first = next_job_id_;
  const std::size_t count = indices.empty() ? 1 : indices.size();
  next_job_id_ += static_cast<JobId>(count);
  store::WriteBatch batch;
  batch.reserve(count + 1);
  for (std::size_t i = 0; i < count; ++i) {
    Job task = i + 1 < count ? job : std::move(job);
    task.id = first + static_cast<JobId>(i);
    if (!indices.empty()) {
      task.array_job_id = first;
      task.array_task_id = indices[i];
    }
    batch.push_back(store::PutJob(task));
    const JobId id = task.id;
    if (!backend) {
      pending_.emplace(task.id, ToPending(task));
      NoteConstrained(task);
    }
    jobs_[id].job = std::move(task);
    if (!backend) MarkSubmitted(id);
  }
  batch.push_back(store::PutNextJobId(next_job_id_));
  if (!idempotency_key.empty()) idempotency_[{jobs_.at(first).job.spec.user, idempotency_key}] = first;
  persister_.Persist(std::move(batch), [this, first, count, backend_pool, done = std::move(done)] {
    if (!backend_pool.empty()) {
      for (std::size_t i = 0; i < count; ++i) RouteToBackend(first + static_cast<JobId>(i), backend_pool);
    }
    if (options_.observer) {  // metrics hook: each job of the batch, now durable
      for (std::size_t i = 0; i < count; ++i) {
        options_.observer->OnJobSubmitted(jobs_.at(first + static_cast<JobId>(i)).job);
      }
    }
    done(jobs_.at(first).job);
  });
}

void Controller::Cancel(JobId id, JobCallback done) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    done(Fail(ErrorCode::kNotFound, fmt::format("job {} does not exist", id)));
    return;
  }
  Job& job = it->second.job;
  // The array job id stands for every task of the array, as in scancel.
  std::vector<JobId> ids;
  for (auto task = it; task != jobs_.end(); ++task) {
    if (!model::IsFinal(task->second.job.state)) ids.push_back(task->first);
    if (job.array_job_id != id) break;
    if (std::next(task) == jobs_.end() || std::next(task)->second.job.array_job_id != id) break;
  }
  if (ids.empty()) {
    done(Fail(ErrorCode::kFailedPrecondition,
              fmt::format("job {} has already ended ({})", id, model::ToString(job.state))));
    return;
  }
  store::WriteBatch batch;
  for (JobId cancelled : ids) {
    Job& target = jobs_.at(cancelled).job;
    pending_.erase(cancelled);
    Finish(target, JobState::kCancelled, "Cancelled by user");
    batch.push_back(store::PutJob(target));
  }
  MarkDirty();  // jobs depending on these re-evaluate
  persister_.Persist(std::move(batch), [this, id, ids, done = std::move(done)] {
    Publish(ids, {});
    for (JobId cancelled : ids) CancelOnBackend(jobs_.at(cancelled).job);
    done(jobs_.at(id).job);
  });
}

void Controller::SetDrain(const std::string& name, bool drain, std::string reason, NodeCallback done) {
  const model::Node* known = nodes_.Find(name);
  if (known == nullptr) {
    done(Fail(ErrorCode::kNotFound, fmt::format("node {} does not exist", name)));
    return;
  }
  model::Node node = *known;
  node.drain = drain;
  node.drain_reason = drain ? (reason.empty() ? "drained by an admin" : std::move(reason)) : "";
  persister_.Persist(store::WriteBatch{store::PutNode(node)}, [this, node, done = std::move(done)] {
    nodes_.SetDrain(node.name, node.drain, node.drain_reason);
    capacity_snapshot_.reset();
    cache_.valid = false;
    MarkDirty();  // resumed capacity may start pending jobs
    Log(LogLevel::kInfo, "node {} {}", node.name, node.drain ? "draining: " + node.drain_reason : "resumed");
    done(*nodes_.Find(node.name));
  });
}

void Controller::AddUser(model::User user, UserCallback done) {
  if (auto it = users_.find(user.name); it != users_.end() && !it->second.revoked) {
    done(Fail(ErrorCode::kAlreadyExists, fmt::format("name: user '{}' already exists", user.name)));
    return;
  }
  user.created = loop_.clock().Now();
  user.revoked = false;
  store::WriteBatch batch{store::PutUser(user)};
  persister_.Persist(std::move(batch), [this, user, done = std::move(done)] {
    users_[user.name] = user;
    done(user);
  });
}

void Controller::RevokeUser(const std::string& name, UserCallback done) {
  auto it = users_.find(name);
  if (it == users_.end() || it->second.revoked) {
    done(Fail(ErrorCode::kNotFound, fmt::format("name: no user '{}'", name)));
    return;
  }
  model::User user = it->second;
  user.revoked = true;
  persister_.Persist(store::WriteBatch{store::PutUser(user)}, [this, user, done = std::move(done)] {
    users_[user.name] = user;
    done(user);
  });
}

const Job* Controller::FindJob(JobId id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second.job;
}

void Controller::ForEachJob(const JobFilter& filter,
                            const std::function<void(const Job&)>& visit) const {
  auto matches = [&](const Job& job) {
    return (filter.states.empty() || filter.states.count(job.state) > 0) &&
           (filter.user.empty() || job.spec.user == filter.user);
  };
  // The live sets are small; walk them instead of every job ever run when they suffice.
  const bool live_only =
      !filter.states.empty() && std::all_of(filter.states.begin(), filter.states.end(), [](JobState s) {
        return s == JobState::kPending || s == JobState::kRunning;
      });
  if (live_only && filter.limit == 0) {
    std::set<JobId> ids = active_;  // every RUNNING job holds resources, so is in active_
    for (const auto& [id, pending] : pending_) ids.insert(id);
    for (JobId id : ids) {
      const Job& job = jobs_.at(id).job;
      if (matches(job)) visit(job);
    }
    return;
  }
  if (filter.limit == 0) {
    for (const auto& [id, entry] : jobs_) {
      if (matches(entry.job)) visit(entry.job);
    }
    return;
  }
  std::size_t count = 0;
  for (auto it = jobs_.rbegin(); it != jobs_.rend() && count < filter.limit; ++it) {
    if (matches(it->second.job)) {
      visit(it->second.job);
      ++count;
    }
  }
}

std::vector<NodeStatus> Controller::ListNodes() const {
  std::vector<NodeStatus> out;
  std::map<std::string, std::size_t> index;
  for (const auto& [name, node] : nodes_.nodes()) {
    index[name] = out.size();
    out.push_back({node, nodes_.StateOf(node), {}, {}});
  }
  for (JobId id : active_) {
    const Job& job = jobs_.at(id).job;
    for (std::size_t r = 0; r < job.allocation.ranks.size(); ++r) {
      if (job.tasks[r].phase == model::TaskPhase::kExited) continue;
      auto it = index.find(job.allocation.ranks[r].node);
      if (it == index.end()) continue;
      out[it->second].allocated += job.allocation.ranks[r].resources;
      out[it->second].jobs.push_back(id);
    }
  }
  for (const auto& [pool, state] : backend_pools_) {
    for (const model::Node& node : state.nodes.nodes) out.push_back({node, node.state, {}, {}});
  }
  return out;
}

void Controller::MarkSubmitted(JobId id) {
  submitted_.insert(id);
  if (cycle_posted_) return;
  cycle_posted_ = true;
  loop_.Post([this] { RunCycle(); });
}

void Controller::MarkDirty() {
  full_cycle_ = true;
  if (cycle_posted_) return;
  cycle_posted_ = true;
  // Posted, not run inline: a burst of submissions handled in one loop turn shares a cycle.
  loop_.Post([this] { RunCycle(); });
}

sched::ClusterSnapshot Controller::BuildSnapshot(bool include_down) const {
  sched::ClusterSnapshot snapshot;
  std::map<std::string, std::size_t> index;
  for (const auto& [name, node] : nodes_.nodes()) {
    const bool up = nodes_.StateOf(node) == model::NodeState::kUp;
    if (!up && !include_down) continue;
    sched::NodeView view;
    view.name = name;
    view.pool = node.pool;
    view.capacity = view.free = node.capacity;
    view.gpu_free.assign(static_cast<std::size_t>(std::max<std::int64_t>(0, node.capacity.gpus)), true);
    view.gpu_model = node.gpu_model;
    view.labels = node.labels;
    view.isolated = node.isolation.Enforced(!node.gpus.empty());
    view.schedulable = up && fenced_nodes_.count(name) == 0 && !node.drain;
    index[name] = snapshot.nodes.size();
    snapshot.nodes.push_back(std::move(view));
  }
  const auto on_snapshot = [&index](const std::string& node) { return index.count(node) > 0; };
  for (JobId id : active_) {
    sched::RunningAllocation running = RunningFor(jobs_.at(id).job, on_snapshot);
    for (const model::NodeAllocation& rank : running.ranks) {
      sched::NodeView& view = snapshot.nodes[index.at(rank.node)];
      view.free -= rank.resources;
      view.idle = false;
      if (const int port = jobs_.at(id).job.spec.host_port) view.host_ports.push_back(port);
      for (int g : rank.gpu_ids) {
        if (g >= 0 && static_cast<std::size_t>(g) < view.gpu_free.size()) view.gpu_free[g] = false;
      }
    }
    if (!running.ranks.empty()) snapshot.running.push_back(std::move(running));
  }
  for (sched::NodeView& view : snapshot.nodes) std::sort(view.host_ports.begin(), view.host_ports.end());
  snapshot.queues = options_.config.queues;
  snapshot.queue_usage = QueueUsage();
  return snapshot;
}

sched::RunningAllocation Controller::RunningFor(
    const Job& job, const std::function<bool(const std::string&)>& on_snapshot) const {
  // For backfill: what the job holds and when its time limit gives it back.
  sched::RunningAllocation running{job.id, {}, std::nullopt};
  if (job.start_time && job.spec.time_limit) running.expected_end = *job.start_time + *job.spec.time_limit;
  // For preemption: who may be a victim, what it would lose, and which jobs are already
  // stopping (they end by their stop deadline, which is what a holder's reservation uses).
  running.preemptible = job.spec.preemptible;
  running.priority = job.spec.priority;
  running.start_time = job.start_time.value_or(TimePoint{});
  running.queue = QueueOf(job);
  if (job.preempted_at) {
    running.stopping = true;
    const TimePoint deadline = *job.preempted_at + options_.config.scheduler.preemption_grace;
    if (!running.expected_end || deadline < *running.expected_end) running.expected_end = deadline;
  }
  for (std::size_t r = 0; r < job.allocation.ranks.size(); ++r) {
    if (job.tasks[r].phase == model::TaskPhase::kExited) continue;
    if (!on_snapshot(job.allocation.ranks[r].node)) continue;
    running.ranks.push_back(job.allocation.ranks[r]);
  }
  return running;
}

void Controller::RecomputeView(sched::NodeView& view) const {
  view.free = view.capacity;
  view.gpu_free.assign(static_cast<std::size_t>(std::max<std::int64_t>(0, view.capacity.gpus)), true);
  view.idle = true;
  view.host_ports.clear();
  auto jobs = jobs_on_node_.find(view.name);
  if (jobs == jobs_on_node_.end()) return;
  // Subtraction and clearing slots commute, so the order of jobs does not matter.
  for (JobId id : jobs->second) {
    const Job& job = jobs_.at(id).job;
    for (std::size_t r = 0; r < job.allocation.ranks.size(); ++r) {
      const model::NodeAllocation& rank = job.allocation.ranks[r];
      if (rank.node != view.name || job.tasks[r].phase == model::TaskPhase::kExited) continue;
      view.free -= rank.resources;
      view.idle = false;
      if (job.spec.host_port) view.host_ports.push_back(job.spec.host_port);
      for (int g : rank.gpu_ids) {
        if (g >= 0 && static_cast<std::size_t>(g) < view.gpu_free.size()) view.gpu_free[g] = false;
      }
    }
  }
  std::sort(view.host_ports.begin(), view.host_ports.end());  // as BuildSnapshot has them
}

void Controller::TouchSnapshot(const Job& job) {
  if (!cache_.valid) return;  // rebuilt from scratch at the next use anyway
  cache_.dirty_jobs.push_back(job.id);
  for (const model::NodeAllocation& rank : job.allocation.ranks) {
    auto it = cache_.index.find(rank.node);
    if (it == cache_.index.end() || cache_.node_dirty[it->second]) continue;
    cache_.node_dirty[it->second] = true;
    cache_.dirty_nodes.push_back(it->second);
  }
}

void Controller::IndexActive(const Job& job) {
  for (const model::NodeAllocation& rank : job.allocation.ranks) jobs_on_node_[rank.node].insert(job.id);
}

void Controller::UnindexActive(const Job& job) {
  for (const model::NodeAllocation& rank : job.allocation.ranks) {
    auto it = jobs_on_node_.find(rank.node);
    if (it == jobs_on_node_.end()) continue;
    it->second.erase(job.id);
    if (it->second.empty()) jobs_on_node_.erase(it);
  }
}

const sched::ClusterSnapshot& Controller::CurrentSnapshot() {
  // The set of UP nodes changes with time alone (heartbeats age): compare it with the build's.
  if (cache_.valid) {
    const auto& all = nodes_.nodes();
    if (all.size() != cache_.up.size()) {
      cache_.valid = false;
    } else {
      std::size_t i = 0;
      for (const auto& [name, node] : all) {
        if ((nodes_.StateOf(node) == model::NodeState::kUp) != cache_.up[i++]) {
          cache_.valid = false;
          break;
        }
      }
    }
  }
  if (!cache_.valid) {
    cache_.snapshot = BuildSnapshot(false);
    cache_.index.clear();
    for (std::size_t i = 0; i < cache_.snapshot.nodes.size(); ++i) {
      cache_.index.emplace(cache_.snapshot.nodes[i].name, i);
    }
    cache_.up.clear();
    for (const auto& [name, node] : nodes_.nodes()) {
      cache_.up.push_back(nodes_.StateOf(node) == model::NodeState::kUp);
    }
    cache_.node_dirty.assign(cache_.snapshot.nodes.size(), false);
    cache_.dirty_nodes.clear();
    cache_.dirty_jobs.clear();
    cache_.valid = true;
  } else {
    for (std::size_t slot : cache_.dirty_nodes) {
      RecomputeView(cache_.snapshot.nodes[slot]);
      cache_.node_dirty[slot] = false;
    }
    cache_.dirty_nodes.clear();
    std::sort(cache_.dirty_jobs.begin(), cache_.dirty_jobs.end());
    cache_.dirty_jobs.erase(std::unique(cache_.dirty_jobs.begin(), cache_.dirty_jobs.end()),
                            cache_.dirty_jobs.end());
    const auto on_snapshot = [this](const std::string& node) { return cache_.index.count(node) > 0; };
    std::vector<sched::RunningAllocation>& running = cache_.snapshot.running;
    for (JobId id : cache_.dirty_jobs) {
      auto pos = std::lower_bound(running.begin(), running.end(), id,
                                  [](const sched::RunningAllocation& r, JobId v) { return r.job_id < v; });
      const bool present = pos != running.end() && pos->job_id == id;
      sched::RunningAllocation entry;
      if (active_.count(id)) entry = RunningFor(jobs_.at(id).job, on_snapshot);
      if (entry.ranks.empty()) {
        if (present) running.erase(pos);
      } else if (present) {
        *pos = std::move(entry);
      } else {
        running.insert(pos, std::move(entry));
      }
    }
    cache_.dirty_jobs.clear();
  }
  cache_.snapshot.queue_usage = QueueUsage();
  if (options_.check_snapshot) {
    if (const std::string diff = SnapshotDifference(cache_.snapshot, BuildSnapshot(false)); !diff.empty()) {
      Log(LogLevel::kError, "maintained cluster snapshot differs from a fresh one: {}", diff);
      std::abort();
    }
  }
  return cache_.snapshot;
}

void Controller::AddReservedCandidates(std::vector<sched::PendingJob>& pending) {
  if (pending.size() < pending_.size()) {  // a partial cycle: some pending jobs are not listed
    std::set<JobId> listed;
    for (const sched::PendingJob& p : pending) listed.insert(p.id);
    for (JobId id : reserved_) {
      auto it = pending_.find(id);
      if (it != pending_.end() && !listed.count(id)) pending.push_back(it->second);
    }
  }
  // Every reservation is recomputed by this cycle (or dropped with its job).
  for (JobId id : reserved_) {
    if (auto it = jobs_.find(id); it != jobs_.end()) it->second.job.expected_start.reset();
  }
  reserved_.clear();
}

void Controller::RunCycle() {
  // Metrics hook: the observer times the whole cycle, early returns included.
  struct CycleBracket {
    ControllerObserver* observer;
    explicit CycleBracket(ControllerObserver* o) : observer(o) { if (observer) observer->OnCycleBegin(); }
    ~CycleBracket() { if (observer) observer->OnCycleEnd(); }
  } bracket(options_.observer);
  cycle_posted_ = false;
  std::vector<sched::PendingJob> pending;
  if (full_cycle_) {
    pending.reserve(pending_.size());
    for (const auto& [id, job] : pending_) pending.push_back(job);
  } else {
    for (JobId id : submitted_) {
      if (auto it = pending_.find(id); it != pending_.end()) pending.push_back(it->second);
    }
  }
  full_cycle_ = false;
  submitted_.clear();
  AddReservedCandidates(pending);
  AddPreemptionHolders(pending);
  HoldBackCandidates(pending);
  if (pending.empty()) return;
  // Multifactor priority changes with time and usage: recompute it for this cycle.
  const TimePoint now = loop_.clock().Now();
  usage_ledger_.Advance(now, QueueUsage());
  // The fair-share factor depends on the queue alone: once per queue, not per job (with
  // many queues and pending jobs the factor dominated the cycle). p.queue is QueueOf(job).
  std::map<std::string_view, double> fair_share;
  for (sched::PendingJob& p : pending) {
    auto [factor, fresh] = fair_share.try_emplace(p.queue, 0.0);
    if (fresh) factor->second = sched::FairShareFactor(p.queue, options_.config.queues, usage_ledger_);
    // As PriorityOf(job): ToPending copied submit_time, the spec's priority (own_priority)
    // and time limit, none of which change while the job is pending.
    p.priority = static_cast<int>(sched::ComputePriority(p.submit_time, p.own_priority, factor->second,
                                                          p.time_limit, now, options_.config.scheduler.priority)
                                      .total);
  }
  const sched::CycleResult result = scheduler_.RunCycle(CurrentSnapshot(), pending, now);
  for (const sched::PendingReason& p : result.still_pending) jobs_.at(p.job_id).job.reason = p.reason;
  for (const sched::Reservation& r : result.reservations) {
    jobs_.at(r.job_id).job.expected_start = r.start;
    reserved_.insert(r.job_id);
  }
  store::WriteBatch batch;
  std::vector<JobId> changed;
  for (const sched::StartDecision& start : result.starts) {
    JobEntry& entry = jobs_.at(start.job_id);
    StartJob(entry, start.allocation);
    batch.push_back(store::PutJob(entry.job));
    changed.push_back(start.job_id);
  }
  for (const sched::PreemptDecision& decision : result.preemptions) {
    ApplyPreemption(decision, batch, changed);
  }
  EndHolds();
  if (batch.empty()) return;
  persister_.Persist(std::move(batch), [this, changed = std::move(changed)] { Publish(changed, {}); });
}

void Controller::AddPreemptionHolders(std::vector<sched::PendingJob>& pending) {
  if (preemptors_.empty()) return;
  for (auto& [preemptor, victims] : preemptors_) {
    std::erase_if(victims, [this](JobId victim) {
      const Job& job = jobs_.at(victim).job;
      return job.state != JobState::kRunning || !job.preempted_at;
    });
  }
  std::set<JobId> listed;
  for (const sched::PendingJob& p : pending) listed.insert(p.id);
  for (const auto& [preemptor, victims] : preemptors_) {
    auto it = pending_.find(preemptor);
    if (it != pending_.end() && !listed.count(preemptor)) pending.push_back(it->second);
  }
  for (sched::PendingJob& p : pending) {
    auto it = preemptors_.find(p.id);
    p.preemption_hold = it != preemptors_.end();
    p.victims_stopping = p.preemption_hold && !it->second.empty();
  }
}

void Controller::EndHolds() {
  // Victims added by this cycle make a set non-empty again; an empty set here means every
  // victim had stopped before this cycle, which was the preemptor's turn in front.
  std::erase_if(preemptors_, [this](const auto& entry) {
    return entry.second.empty() || !pending_.count(entry.first);
  });
}

model::StopRequest Controller::StopRequestFor(const Job& job) const {
  model::StopRequest stop;
  stop.signal = job.spec.signal ? job.spec.signal->signal : SIGTERM;
  stop.grace = options_.config.scheduler.preemption_grace;
  return stop;
}

void Controller::ApplyPreemption(const sched::PreemptDecision& decision, store::WriteBatch& batch,
                                 std::vector<JobId>& changed) {
  const Job& preemptor = jobs_.at(decision.preemptor).job;
  for (JobId id : decision.victims) {
    Job& victim = jobs_.at(id).job;
    if (victim.state != JobState::kRunning || victim.preempted_at) continue;  // the scheduler never asks
    victim.preempted_at = loop_.clock().Now();
    TouchSnapshot(victim);  // now stopping, with an earlier expected end
    victim.preempted_by = preemptor.id;
    // The scheduler preempts by own priority or to reclaim lent quota (sched/preemption.h).
    victim.preemption_reason =
        preemptor.spec.priority > victim.spec.priority
            ? fmt::format("preempted by job {} (priority {} > {})", preemptor.id,
                          preemptor.spec.priority, victim.spec.priority)
            : fmt::format("preempted by job {} (queue {} reclaims its lent quota)", preemptor.id,
                          QueueOf(preemptor));
    victim.reason = "Preempted";
    Log(LogLevel::kInfo, "job {}: {}", id, victim.preemption_reason);
    preemptors_[preemptor.id].insert(id);
    batch.push_back(store::PutJob(victim));
    changed.push_back(id);
  }
}

void Controller::EndInterruptedAttempt(JobEntry& entry) {
  Job& job = entry.job;
  const bool node_failure = job.node_failed_at.has_value();
  Release(job);  // before the allocation and port are forgotten
  // A preempted job reruns while it has retries left; one whose node failed only when it
  // asked to be requeued (--requeue), as Slurm requeues on node failure.
  const bool retry = job.restart_count < job.spec.max_retries && (!node_failure || job.spec.requeue);
  if (!retry) {
    // How the first rank ended (e.g. killed by SIGKILL after the grace) stays visible.
    for (const model::TaskRecord& task : job.tasks) {
      if (!task.exit || task.exit->node_failed) continue;
      job.exit_code = task.exit->exit_code;
      job.exit_signal = task.exit->signal;
      break;
    }
    if (node_failure) {
      Finish(job, JobState::kNodeFail, job.node_failure);
    } else {
      Finish(job, JobState::kPreempted, job.preemption_reason);
    }
    job.preempted_at.reset();
    job.node_failed_at.reset();
    return;
  }
  // Requeued: a new attempt (TaskKey::attempt = restart_count), so late reports of the old
  // one are recognised as stale and agents start the new ranks afresh.
  job.state = JobState::kPending;
  job.reason = node_failure ? "NodeFail" : "Preempted";
  ++job.restart_count;
  job.preempted_at.reset();
  job.preempted_by = 0;
  job.node_failed_at.reset();
  job.start_time.reset();
  job.end_time.reset();
  job.expected_start.reset();
  job.allocation = {};
  job.tasks.clear();
  job.master_port = 0;
  job.exit_code = 0;
  job.exit_signal = 0;
  entry.published_running = false;
  entry.published_stop = false;
  entry.assignments.clear();
  pending_.emplace(job.id, ToPending(job));
  NoteConstrained(job);
  MarkDirty();
}

std::vector<DependencyTarget> Controller::DependencyTargets(JobId id) const {
  std::vector<DependencyTarget> out;
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return out;
  auto target = [](const Job& job, int task) {
    return DependencyTarget{job.id, job.state, job.start_time.has_value(), task};
  };
  if (it->second.job.array_job_id != id) {
    out.push_back(target(it->second.job, -1));
    return out;
  }
  // An array's tasks have consecutive ids starting at the array job id.
  for (; it != jobs_.end() && it->second.job.array_job_id == id; ++it) {
    out.push_back(target(it->second.job, it->second.job.array_task_id));
  }
  return out;
}

void Controller::NoteConstrained(const Job& job) {
  if (!job.spec.dependency.empty() || (job.array_job_id != 0 && job.spec.array.max_running > 0)) {
    constrained_.insert(job.id);
  }
}

void Controller::HoldBackCandidates(std::vector<sched::PendingJob>& candidates) {
  // Every pending job is looked at below: forget waiters on after: that have gone.
  if (candidates.size() == pending_.size()) start_releases_dependents_ = false;
  // Only constrained jobs are ever held back; without any, nothing below has an effect.
  std::erase_if(constrained_, [this](JobId id) { return !pending_.count(id); });
  if (constrained_.empty()) return;
  // What runs now, built only when some candidate needs it: tasks per array and
  // (name, user) pairs, counting every job that still holds resources.
  std::optional<std::map<JobId, int>> array_running;
  std::optional<std::set<std::pair<std::string, std::string>>> names_running;
  auto build_running = [&] {
    array_running.emplace();
    names_running.emplace();
    for (JobId id : active_) {
      const Job& job = jobs_.at(id).job;
      if (job.array_job_id != 0) ++(*array_running)[job.array_job_id];
      names_running->emplace(job.spec.name, job.spec.user);
    }
  };
  const TargetLookup lookup = [this](JobId id) { return DependencyTargets(id); };
  store::WriteBatch failures;
  std::vector<JobId> failed;
  // Candidates mostly come in id order, so a job usually sees in this pass the failure of a
  // job it depends on; the MarkDirty below catches the rest in the next cycle.
  std::erase_if(candidates, [&](const sched::PendingJob& candidate) {
    Job& job = jobs_.at(candidate.id).job;
    const model::JobSpec& spec = job.spec;
    const bool throttled = job.array_job_id != 0 && spec.array.max_running > 0;
    if (spec.dependency.empty() && !throttled) return false;
    if (!array_running) build_running();
    const std::pair<std::string, std::string> name_key{spec.name, spec.user};
    const bool singleton_blocked = names_running->count(name_key) > 0;
    const DependencyVerdict verdict = EvaluateDependency(spec.dependency, lookup, singleton_blocked);
    if (verdict.status == DependencyStatus::kNeverSatisfied) {
      pending_.erase(job.id);
      Finish(job, JobState::kFailed, "DependencyNeverSatisfied: " + verdict.reason);
      failures.push_back(store::PutJob(job));
      failed.push_back(job.id);
      return true;
    }
    if (verdict.status == DependencyStatus::kWaiting) {
      job.reason = "Dependency";
      if (WaitsForStart(spec.dependency)) start_releases_dependents_ = true;
      return true;
    }
    if (throttled && (*array_running)[job.array_job_id] >= spec.array.max_running) {
      job.reason = "JobArrayTaskLimit";
      return true;
    }
    // Admitted: counts as running for the rest of this cycle, whether or not it fits.
    if (throttled) ++(*array_running)[job.array_job_id];
    for (const model::DependencyTerm& term : spec.dependency.terms) {
      if (term.type == model::DependencyType::kSingleton) names_running->insert(name_key);
    }
    return false;
  });
  if (failed.empty()) return;
  persister_.Persist(std::move(failures), [this, failed] { Publish(failed, {}); });
  MarkDirty();  // jobs depending on the failed ones re-evaluate
}

int Controller::AllocatePort() {
  for (int i = 0; i < options_.master_port_count; ++i) {
    const int port = options_.master_port_first + (next_port_offset_++ % options_.master_port_count);
    if (ports_in_use_.insert(port).second) return port;
  }
  return options_.master_port_first;  // every port in use: share rather than refuse to run
}

void Controller::StartJob(JobEntry& entry, model::Allocation allocation) {
  Job& job = entry.job;
  job.state = JobState::kRunning;
  job.reason = "None";
  job.start_time = loop_.clock().Now();
  job.expected_start.reset();
  job.allocation = std::move(allocation);
  entry.assignments.clear();  // a new attempt
  job.master_port = AllocatePort();
  ResolveOutputPaths(job);
  pending_.erase(job.id);
  usage_ledger_.Advance(loop_.clock().Now(), QueueUsage());  // bill the past at the old rate
  active_.insert(job.id);
  IndexActive(job);
  TouchSnapshot(job);
  held_by_queue_[QueueOf(job)] += JobTotal(job);
  if (start_releases_dependents_) MarkDirty();  // after:<this job> may now hold
  if (options_.observer) options_.observer->OnJobStarted(job);  // metrics hook
}

void Controller::Publish(const std::vector<JobId>& jobs, const std::set<std::string>& extra_nodes) {
  std::set<std::string> touched = extra_nodes;
  for (JobId id : jobs) {
    JobEntry& entry = jobs_.at(id);
    entry.published_running = entry.job.state == JobState::kRunning && !entry.job.node_failed_at;
    entry.published_stop = entry.published_running && entry.job.preempted_at.has_value();
    for (const auto& rank : entry.job.allocation.ranks) touched.insert(rank.node);
  }
  for (const std::string& node : touched) nodes_.Bump(node);
  for (JobId id : jobs) {
    const Job& job = jobs_.at(id).job;
    if (model::IsFinal(job.state) && !job.HoldsResources()) WakeJobWaiters(id);
  }
}

void Controller::WaitJob(JobId id, Duration wait, JobCallback done) {
  const Job* job = FindJob(id);
  if (!job) {
    done(Fail(ErrorCode::kNotFound, fmt::format("job {} does not exist", id)));
    return;
  }
  if ((model::IsFinal(job->state) && !job->HoldsResources()) || wait <= Duration::zero()) {
    done(*job);
    return;
  }
  const std::uint64_t waiter = next_waiter_id_++;
  const TimerId timer = loop_.RunAfter(wait, [this, id, waiter] {
    auto it = job_waiters_.find(id);
    if (it == job_waiters_.end()) return;
    auto w = it->second.find(waiter);
    if (w == it->second.end()) return;
    JobCallback callback = std::move(w->second.done);
    it->second.erase(w);
    if (it->second.empty()) job_waiters_.erase(it);
    callback(jobs_.at(id).job);
  });
  job_waiters_[id].emplace(waiter, JobWaiter{timer, std::move(done)});
}

void Controller::WakeJobWaiters(JobId id) {
  auto it = job_waiters_.find(id);
  if (it == job_waiters_.end()) return;
  auto waiters = std::move(it->second);
  job_waiters_.erase(it);
  for (auto& [waiter, w] : waiters) {
    loop_.Cancel(w.timer);
    w.done(jobs_.at(id).job);
  }
}

void Controller::Finish(Job& job, JobState state, std::string reason) {
  if (!model::CanTransition(job.state, state)) return;
  ReleaseFromBackend(job.id);
  awaiting_quota_.erase(job.id);
  leaving_backend_.erase(job.id);
  job.state = state;
  job.reason = std::move(reason);
  job.end_time = loop_.clock().Now();
  if (options_.observer) options_.observer->OnJobFinished(job);  // metrics hook
}

void Controller::Release(Job& job) {
  // The attempt is over: record it (a requeued job's stopping attempt counts as preempted).
  if (job.start_time) {
    const JobState requeued_as = job.node_failed_at ? JobState::kNodeFail : JobState::kPreempted;
    job.attempts.push_back(EndAttempt(job, loop_.clock().Now(), requeued_as));
  }
  usage_ledger_.Advance(loop_.clock().Now(), QueueUsage());  // bill the job up to its end
  TouchSnapshot(job);
  if (active_.erase(job.id) > 0) {
    UnindexActive(job);
    auto held = held_by_queue_.find(QueueOf(job));
    held->second -= JobTotal(job);
    if (held->second == model::Resources{}) held_by_queue_.erase(held);
  }
  ports_in_use_.erase(job.master_port);
  MarkDirty();
}

bool Controller::ApplyExit(JobEntry& entry, int rank, const model::TaskReport& report) {
  Job& job = entry.job;
  model::TaskRecord& task = job.tasks[rank];
  task.phase = model::TaskPhase::kExited;
  TouchSnapshot(job);
  task.start_time = report.start_time ? report.start_time : task.start_time;
  task.end_time = report.end_time ? report.end_time : loop_.clock().Now();
  task.exit = report.exit.value_or(model::TaskExit{});
  if (report.usage) task.usage = report.usage;
  const model::TaskExit& exit = *task.exit;
  if (job.state == JobState::kRunning && exit.node_failed && !job.node_failed_at) {
    // The rank's agent fenced itself (it could not reach the controller for --fence-after):
    // a node failure seen from the node's side, handled as if the node had been declared
    // DOWN. The job's other ranks leave their agents' assignments and are killed.
    job.node_failed_at = loop_.clock().Now();
    job.node_failure = fmt::format("node {} lost the controller and stopped its tasks",
                                   job.allocation.ranks[static_cast<std::size_t>(rank)].node);
    Log(LogLevel::kWarn, "job {}: {}", job.id, job.node_failure);
  }
  if (job.state == JobState::kRunning && job.node_failed_at) {
    // A node of the job failed: however its other ranks end (killed, mostly), the outcome is
    // the node failure's, once every rank has exited.
    if (!job.HoldsResources()) EndInterruptedAttempt(entry);
    return true;
  }
  if (job.state == JobState::kRunning && job.preempted_at) {
    // Being preempted: however a rank ends now (the signal, SIGKILL after the grace, or on
    // its own), the job's outcome is the preemption's, once every rank has exited, unless
    // every rank ended well before its agent stopped it: a job that finished is not rerun.
    if (job.HoldsResources()) return true;
    const bool finished_anyway =
        std::all_of(job.tasks.begin(), job.tasks.end(), [](const model::TaskRecord& t) {
          return t.exit && !t.exit->preempted && t.exit->exit_code == 0 && t.exit->signal == 0;
        });
    if (!finished_anyway) {
      EndInterruptedAttempt(entry);
      return true;
    }
    job.preempted_at.reset();
    Finish(job, JobState::kCompleted, "None");
    MarkDirty();
    Release(job);
    return true;
  }
  if (job.state == JobState::kRunning) {
    if (exit.timed_out) {
      Finish(job, JobState::kTimeout, "TimeLimit");
      job.exit_code = exit.exit_code;
      job.exit_signal = exit.signal;
    } else if (exit.oom_killed) {
      Finish(job, JobState::kOomKilled, fmt::format("rank {} ran out of memory", rank));
      job.exit_code = exit.exit_code;
      job.exit_signal = exit.signal;
    } else if (exit.killed_by_agent) {
      Finish(job, JobState::kFailed, fmt::format("rank {} was stopped by its agent", rank));
      job.exit_code = exit.exit_code;
      job.exit_signal = exit.signal;
    } else if (exit.signal != 0) {
      Finish(job, JobState::kFailed, fmt::format("rank {} killed by signal {}", rank, exit.signal));
      job.exit_code = exit.exit_code;
      job.exit_signal = exit.signal;
    } else if (exit.exit_code != 0) {
      Finish(job, JobState::kFailed, fmt::format("rank {} exited with code {}", rank, exit.exit_code));
      job.exit_code = exit.exit_code;
    } else if (std::all_of(job.tasks.begin(), job.tasks.end(), [](const model::TaskRecord& t) {
                 return t.phase == model::TaskPhase::kExited;
               })) {
      Finish(job, JobState::kCompleted, "None");
    }
  }
  if (model::IsFinal(job.state)) MarkDirty();  // jobs depending on this one re-evaluate
  if (!job.HoldsResources()) Release(job);
  return true;
}

void Controller::ReportNode(model::NodeReport report,
                            std::function<void(Result<std::int64_t>)> done) {
  store::WriteBatch batch;
  const model::Node* known = nodes_.Find(report.name);
  if (known && nodes_.StateOf(*known) == model::NodeState::kDown) MarkDirty();  // back: capacity
  if (down_nodes_.erase(report.name) > 0) {
    // Back from the dead: it may still run ranks of jobs that failed over elsewhere. No new
    // work lands on it until it reports none left (its agent kills what it is no longer
    // assigned), so a job never runs twice at once.
    fenced_nodes_.insert(report.name);
    cache_.valid = false;
    Log(LogLevel::kInfo, "node {} is back; fenced until its stale tasks are gone", report.name);
  }
  if (nodes_.Update(report)) {
    capacity_snapshot_.reset();
    cache_.valid = false;  // capacity, labels or a new node: rebuild the views
    for (JobId id : active_) jobs_.at(id).assignments.clear();  // an address may have changed
    batch.push_back(store::PutNode(*nodes_.Find(report.name)));
    MarkDirty();  // new capacity may start pending jobs
  }
  std::vector<JobId> changed;
  for (const model::TaskReport& t : report.tasks) {
    auto it = jobs_.find(t.key.job_id);
    if (it == jobs_.end()) continue;
    JobEntry& entry = it->second;
    Job& job = entry.job;
    const int rank = t.key.rank;
    if (t.key.attempt != job.restart_count || rank < 0 ||
        rank >= static_cast<int>(job.allocation.ranks.size()) ||
        job.allocation.ranks[rank].node != report.name) {
      continue;  // a stale attempt or a task this node does not hold: not ours to record
    }
    model::TaskRecord& task = job.tasks[rank];
    if (task.phase == model::TaskPhase::kExited) continue;
    if (t.phase == model::TaskPhase::kExited) {
      ApplyExit(entry, rank, t);
      changed.push_back(job.id);
      batch.push_back(store::PutJob(job));
    } else if (t.phase == model::TaskPhase::kRunning) {
      if (task.phase == model::TaskPhase::kAssigned) {
        task.phase = model::TaskPhase::kRunning;
        task.start_time = t.start_time;
      }
      // Live usage is shown, not stored: the exit's final usage is what becomes durable.
      if (t.usage) task.usage = t.usage;
    }
  }
  if (fenced_nodes_.count(report.name) != 0 && !RunsStaleTasks(report)) {
    fenced_nodes_.erase(report.name);
    cache_.valid = false;
    MarkDirty();
    Log(LogLevel::kInfo, "node {} runs nothing stale any more: unfenced", report.name);
  }
  if (batch.empty()) {
    done(nodes_.Version(report.name));
    return;
  }
  persister_.Persist(std::move(batch), [this, changed = std::move(changed), name = report.name,
                                        done = std::move(done)] {
    Publish(changed, changed.empty() ? std::set<std::string>{} : std::set<std::string>{name});
    done(nodes_.Version(name));
  });
}

bool Controller::RunsStaleTasks(const model::NodeReport& report) const {
  for (const model::TaskReport& t : report.tasks) {
    if (t.phase != model::TaskPhase::kRunning) continue;
    auto it = jobs_.find(t.key.job_id);
    if (it == jobs_.end()) return true;
    const JobEntry& entry = it->second;
    const Job& job = entry.job;
    const bool current = entry.published_running && job.state == JobState::kRunning &&
                         t.key.attempt == job.restart_count && t.key.rank >= 0 &&
                         t.key.rank < static_cast<int>(job.allocation.ranks.size()) &&
                         job.allocation.ranks[t.key.rank].node == report.name;
    if (!current) return true;
  }
  return false;
}

model::NodeAssignments Controller::AssignmentsFor(const std::string& node) const {
  model::NodeAssignments out;
  out.version = nodes_.Version(node);
  auto on_node = jobs_on_node_.find(node);
  if (on_node == jobs_on_node_.end()) return out;
  out.tasks.reserve(on_node->second.size());  // usually one rank per job on a node
  for (JobId id : on_node->second) {  // id order, as active_ gives them
    const JobEntry& entry = jobs_.at(id);
    if (!entry.published_running || entry.job.state != JobState::kRunning) continue;
    const Job& job = entry.job;
    for (std::size_t r = 0; r < job.allocation.ranks.size(); ++r) {
      if (job.allocation.ranks[r].node != node) continue;
      if (job.tasks[r].phase == model::TaskPhase::kExited) continue;
      out.tasks.push_back(AssignmentOf(entry, r));
      if (entry.published_stop) out.tasks.back().stop = StopRequestFor(job);
    }
  }
  return out;
}

const model::TaskAssignment& Controller::AssignmentOf(const JobEntry& entry, std::size_t rank) const {
  const Job& job = entry.job;
  if (entry.assignments.size() != job.allocation.ranks.size()) {
    std::vector<const model::Node*> rank_nodes;
    for (const auto& r : job.allocation.ranks) rank_nodes.push_back(nodes_.Find(r.node));
    entry.assignments.clear();
    for (std::size_t r = 0; r < job.allocation.ranks.size(); ++r) {
      entry.assignments.push_back(BuildAssignment(job, static_cast<int>(r), rank_nodes, options_.cluster_name));
    }
  }
  return entry.assignments[rank];
}

void Controller::WatchNode(const std::string& node, std::int64_t version, Duration wait,
                           std::function<void(model::NodeAssignments)> done) {
  if (version != nodes_.Version(node) || wait <= Duration::zero()) {
    done(AssignmentsFor(node));
    return;
  }
  nodes_.Wait(node, wait, [this, node, done = std::move(done)] { done(AssignmentsFor(node)); });
}

sched::PriorityFactors Controller::PriorityOf(const Job& job) const {
  const double fair_share = sched::FairShareFactor(QueueOf(job), options_.config.queues, usage_ledger_);
  return sched::ComputePriority(job.submit_time, job.spec.priority, fair_share, job.spec.time_limit,
                                loop_.clock().Now(), options_.config.scheduler.priority);
}

Result<> Controller::ApplyQueue(model::JobSpec& spec) const {
  const std::string name = spec.queue.empty() ? model::kDefaultQueue : spec.queue;
  const model::QueueConfig* queue = options_.config.FindQueue(name);
  if (!queue && !(options_.config.queues.empty() && name == model::kDefaultQueue)) {
    std::vector<std::string> known;
    for (const model::QueueConfig& q : options_.config.queues) known.push_back(q.name);
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("queue: unknown queue '{}' (known: {})", name, fmt::join(known, ", ")));
  }
  // Service replicas (spec.service) run until their service stops them: no default limit.
  if (queue && !spec.time_limit && queue->default_time && spec.service.empty()) {
    spec.time_limit = queue->default_time;
  }
  return {};
}

std::string Controller::QueueOf(const Job& job) {
  return job.spec.queue.empty() ? model::kDefaultQueue : job.spec.queue;
}

model::Resources Controller::JobTotal(const Job& job) {
  model::Resources total;
  if (!job.allocation.ranks.empty()) {
    for (const auto& rank : job.allocation.ranks) total += rank.resources;
    return total;
  }
  for (int i = 0; i < job.spec.num_nodes; ++i) total += job.spec.per_node;
  return total;
}

std::map<std::string, model::Resources> Controller::QueueUsage() const {
  if (backend_held_.empty()) return held_by_queue_;
  std::map<std::string, model::Resources> usage = held_by_queue_;
  for (const auto& [id, held] : backend_held_) usage[held.first] += held.second;
  return usage;
}

std::vector<QueueStatus> Controller::ListQueues() const {
  std::map<std::string, QueueStatus> by_name;
  for (const model::QueueConfig& q : options_.config.queues) by_name[q.name].config = q;
  const std::map<std::string, model::Resources> usage = QueueUsage();
  const sched::QuotaLedger ledger(options_.config.queues, usage);
  for (const auto& [name, used] : usage) {
    QueueStatus& status = by_name[name];
    status.config.name = name;
    status.usage = used;
    status.borrowed = ledger.Borrowed(name);
  }
  for (JobId id : active_) {
    const Job& job = jobs_.at(id).job;
    if (job.state == JobState::kRunning) ++by_name[QueueOf(job)].running_jobs;
  }
  for (const auto& [id, pending] : pending_) {
    QueueStatus& status = by_name[QueueOf(jobs_.at(id).job)];
    status.config.name = QueueOf(jobs_.at(id).job);
    ++status.pending_jobs;
    status.pending_demand += JobTotal(jobs_.at(id).job);
  }
  std::vector<QueueStatus> out;
  for (auto& [name, status] : by_name) {
    status.decayed_usage = usage_ledger_.Usage(name);
    status.fair_share = sched::FairShareFactor(name, options_.config.queues, usage_ledger_);
    out.push_back(std::move(status));
  }
  return out;
}

}  // namespace weft::controller
