// Jobs of backend pools (slurm): the controller's side of backend::Backend. Everything here
// runs on the loop thread; the backend runs its blocking commands elsewhere and posts results
// back (backend/backend.h).
//
// Restart safety (never submit twice): the pool a job's attempt goes to (`backend_pool`) is
// made durable before the backend is asked to submit, and the backend's id (`backend_id`)
// once it answers. After a restart a job with an id is re-attached by it; a job with the
// intent but no id is first looked up by its (job, attempt) (Slurm: its --comment) and only
// submitted when the backend has no such job.
#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "backend/slurm_translate.h"
#include "sched/quota.h"
#include "common/log.h"
#include "controller/controller.h"

namespace weft::controller {

using model::Job;
using model::JobId;
using model::JobState;

namespace {

// Where the backend writes the job's output: its -o/-e pattern as the translation passes it
// (Weft's %j etc. replaced), relative to the work dir.
std::string BackendFile(const std::string& pattern, const Job& job) {
  std::string path = backend::TranslateFilePattern(pattern, job);
  const std::string& dir = job.spec.work_dir.empty() ? job.spec.submit_dir : job.spec.work_dir;
  if (!path.empty() && path[0] != '/' && !dir.empty()) path = dir + "/" + path;
  return path;
}

}  // namespace

backend::Backend* Controller::BackendFor(const model::JobSpec& spec) const {
  if (spec.pools.empty()) return nullptr;
  auto it = backend_pools_.find(spec.pools.front());
  return it == backend_pools_.end() ? nullptr : it->second.backend;
}

bool Controller::OnBackend(const Job& job) const {
  if (!job.backend_pool.empty()) return true;
  if (!BackendFor(job.spec)) return false;
  return std::none_of(job.attempts.begin(), job.attempts.end(),
                      [&](const model::AttemptRecord& a) { return a.attempt == job.restart_count; });
}

std::vector<PoolStatus> Controller::ListPools() const {
  std::vector<PoolStatus> out;
  for (const auto& [name, state] : backend_pools_) {
    out.push_back({name, "slurm", state.nodes.unavailable_reason, state.listed});
  }
  return out;
}

void Controller::PersistJobs(std::vector<JobId> ids) {
  store::WriteBatch batch;
  for (JobId id : ids) batch.push_back(store::PutJob(jobs_.at(id).job));
  persister_.Persist(std::move(batch), [this, ids] { Publish(ids, {}); });
}

std::string Controller::NextBackendPool(const model::JobSpec& spec, const std::string& after) const {
  auto it = spec.pools.begin();
  if (!after.empty()) {
    it = std::find(spec.pools.begin(), spec.pools.end(), after);
    if (it != spec.pools.end()) ++it;
  }
  for (; it != spec.pools.end(); ++it) {
    if (backend_pools_.contains(*it)) return *it;
  }
  return "";
}

void Controller::FailOver(JobId id, const std::string& why, JobState ended_as) {
  Job& job = jobs_.at(id).job;
  const std::string failed = job.backend_pool;
  ReleaseFromBackend(id);
  leaving_backend_.erase(id);
  const TimePoint now = loop_.clock().Now();
  model::AttemptRecord attempt;
  attempt.attempt = job.restart_count;
  attempt.state = ended_as;
  attempt.reason = fmt::format("pool {}: {}", failed, why);
  attempt.start_time = job.start_time.value_or(now);
  attempt.end_time = now;
  job.attempts.push_back(attempt);
  job.backend_pool.clear();
  job.backend_id.clear();
  job.tasks.clear();
  job.start_time.reset();
  auto at = std::find(job.spec.pools.begin(), job.spec.pools.end(), failed);
  const std::string next = at == job.spec.pools.end() || std::next(at) == job.spec.pools.end() ? "" : *std::next(at);
  if (next.empty()) {
    Finish(job, JobState::kFailed, attempt.reason);
    PersistJobs({id});
    return;
  }
  Log(LogLevel::kInfo, "job {}: {}; failing over to pool {}", id, attempt.reason, next);
  if (backend_pools_.contains(next)) {
    RouteToBackend(id, next);
    PersistJobs({id});
    return;
  }
  // An agents pool: the scheduler places it there (its pools list still names the others,
  // which have no agents' nodes).
  job.reason = fmt::format("Failed over from pool {}", failed);
  pending_.emplace(id, ToPending(job));
  MarkSubmitted(id);
  PersistJobs({id});
}

void Controller::SubmitToBackend(JobId id, const std::string& pool) {
  Job& job = jobs_.at(id).job;
  if (model::IsFinal(job.state)) return;  // cancelled before its submission was durable
  if (!backend_pools_.contains(pool)) return;
  StartBackendTimer();
  job.backend_pool = pool;
  job.backend_id.clear();
  job.reason = fmt::format("Submitting to pool {}", job.backend_pool);
  // The intent first: after a crash from here on, the job is looked up before any resubmission.
  store::WriteBatch batch{store::PutJob(job)};
  persister_.Persist(std::move(batch), [this, id] { SubmitNow(id); });
}

void Controller::SubmitNow(JobId id) {
  const Job& job = jobs_.at(id).job;
  if (model::IsFinal(job.state)) return;
  auto pool = backend_pools_.find(job.backend_pool);
  if (pool == backend_pools_.end()) return;
  pool->second.backend->Submit(job, [this, id, attempt = job.restart_count](Result<std::string> r) {
    OnBackendSubmitted(id, attempt, std::move(r));
  });
}

void Controller::OnBackendSubmitted(JobId id, int attempt, Result<std::string> backend_id) {
  Job& job = jobs_.at(id).job;
  if (job.restart_count != attempt) return;
  if (!backend_id) {
    if (model::IsFinal(job.state)) return;
    Log(LogLevel::kWarn, "job {}: pool {} refused it: {}", id, job.backend_pool, backend_id.error().message);
    FailOver(id, backend_id.error().message);
    return;
  }
  job.backend_id = *backend_id;
  if (model::IsFinal(job.state)) {  // cancelled while sbatch ran: stop it there too
    CancelOnBackend(job);
  } else {
    job.reason = fmt::format("Slurm job {}: PENDING", job.backend_id);
    // One record for `weft logs`: Slurm runs the batch script once, on the first node.
    job.tasks.assign(1, model::TaskRecord{});
    const bool array = job.array_task_id >= 0;
    job.tasks[0].output_path = BackendFile(
        job.spec.output_pattern.empty() ? (array ? "weft-%A_%a.out" : "weft-%j.out") : job.spec.output_pattern, job);
    if (!job.spec.error_pattern.empty()) job.tasks[0].error_path = BackendFile(job.spec.error_pattern, job);
  }
  PersistJobs({id});
}

void Controller::ReattachBackendJob(JobId id) {
  Job& job = jobs_.at(id).job;
  if (job.backend_pool.empty()) {  // durable, but its intent was not: nothing was submitted
    RouteToBackend(id, NextBackendPool(job.spec, ""));
    return;
  }
  auto pool = backend_pools_.find(job.backend_pool);
  if (pool == backend_pools_.end()) {
    Finish(job, JobState::kFailed,
           fmt::format("pool {} is no longer configured; its job {} was left there", job.backend_pool,
                       job.backend_id.empty() ? "(unknown)" : job.backend_id));
    PersistJobs({id});
    return;
  }
  HoldInBackend(job);
  if (!job.backend_id.empty()) {
    pool->second.backend->Adopt(id, job.backend_id);
    return;
  }
  pool->second.backend->Find(id, job.restart_count, [this, id, attempt = job.restart_count](Result<std::string> found) {
    Job& current = jobs_.at(id).job;
    if (current.restart_count != attempt || model::IsFinal(current.state)) return;
    if (!found) {  // cannot tell whether it was submitted: ask again later, never resubmit blindly
      Log(LogLevel::kWarn, "job {}: cannot look it up in pool {}: {}", id, current.backend_pool,
          found.error().message);
      current.reason = fmt::format("Looking up in pool {}: {}", current.backend_pool, found.error().message);
      loop_.RunAfter(options_.backend_poll_interval * 5, [this, id] { ReattachBackendJob(id); });
      return;
    }
    if (found->empty()) {
      SubmitNow(id);
      return;
    }
    OnBackendSubmitted(id, attempt, *found);
  });
}

void Controller::StartBackendTimer() {
  if (backend_timer_started_ || backend_pools_.empty()) return;
  backend_timer_started_ = true;
  PollBackends();
}

void Controller::PollBackends() {
  for (auto& [name, state] : backend_pools_) {
    if (!state.polling) {
      state.polling = true;
      state.backend->Poll([this, pool = name](Result<std::vector<backend::BackendJobUpdate>> updates) {
        backend_pools_.at(pool).polling = false;
        if (!updates) {
          Log(LogLevel::kWarn, "pool {}: {}", pool, updates.error().message);
          return;
        }
        ApplyBackendUpdates(pool, std::move(*updates));
      });
    }
    // Listing (two sinfo) every kListEvery polls once the pool is known and usable: it shares
    // the pool's one command thread with sbatch, which would otherwise wait behind it.
    const bool list_now = !state.listed || !state.nodes.unavailable_reason.empty() || ++state.polls_since_listing >= kListEvery;
    if (!state.listing && list_now) {
      state.polls_since_listing = 0;
      state.listing = true;
      state.backend->Nodes([this, pool = name](backend::PoolNodes nodes) {
        BackendPool& listed = backend_pools_.at(pool);
        listed.listing = false;
        listed.listed = true;
        // A failed listing keeps the last known nodes, marked unusable by the reason.
        if (!nodes.unavailable_reason.empty()) {
          if (nodes.unavailable_reason != listed.nodes.unavailable_reason) {
            Log(LogLevel::kWarn, "pool {} is unavailable: {}", pool, nodes.unavailable_reason);
          }
          listed.nodes.unavailable_reason = std::move(nodes.unavailable_reason);
          for (model::Node& node : listed.nodes.nodes) node.state = model::NodeState::kDown;
          return;
        }
        listed.nodes = std::move(nodes);
      });
    }
  }
  RouteBetweenPools();
  loop_.RunAfter(options_.backend_poll_interval, [this] { PollBackends(); });
}

void Controller::ApplyBackendUpdates(const std::string& pool, std::vector<backend::BackendJobUpdate> updates) {
  std::vector<JobId> changed;
  const TimePoint now = loop_.clock().Now();
  for (const backend::BackendJobUpdate& u : updates) {
    auto it = jobs_.find(u.job);
    if (it == jobs_.end()) continue;
    Job& job = it->second.job;
    // Updates of an attempt that is no longer the job's (cancelled, moved on) are stale.
    if (model::IsFinal(job.state) || job.backend_pool != pool || job.backend_id != u.backend_id) continue;
    if (auto leaving = leaving_backend_.find(u.job); leaving != leaving_backend_.end()) {
      // Our scancel --state=PENDING (max_pending): it was still queued there, so it moves on;
      // had it started first, the cancel did nothing and it runs where it is.
      if (u.state == JobState::kCancelled && job.state == JobState::kPending) {
        const std::string why = leaving->second;
        FailOver(u.job, why, JobState::kPending);
        continue;
      }
      if (u.state != JobState::kPending) leaving_backend_.erase(leaving);
    }
    if (job.tasks.empty()) job.tasks.assign(1, model::TaskRecord{});
    model::TaskRecord& task = job.tasks[0];
    job.reason = u.nodes.empty() ? u.reason : fmt::format("{} on {}", u.reason, fmt::join(u.nodes, ","));
    if (u.state != JobState::kPending && job.state == JobState::kPending) {
      job.state = JobState::kRunning;
      job.start_time = now;
      task.phase = model::TaskPhase::kRunning;
      task.start_time = now;
      if (options_.observer) options_.observer->OnJobStarted(job);
    }
    if (model::IsFinal(u.state)) {
      task.phase = model::TaskPhase::kExited;
      task.end_time = now;
      model::TaskExit exit;
      exit.exit_code = u.exit_code;
      exit.signal = u.exit_signal;
      exit.timed_out = u.state == JobState::kTimeout;
      exit.oom_killed = u.state == JobState::kOomKilled;
      task.exit = exit;
      job.exit_code = u.exit_code;
      job.exit_signal = u.exit_signal;
      Finish(job, u.state, job.reason);
    }
    changed.push_back(u.job);
  }
  if (!changed.empty()) PersistJobs(std::move(changed));
}

void Controller::CancelOnBackend(const Job& job) {
  if (job.backend_pool.empty() || job.backend_id.empty()) return;  // no id yet: see OnBackendSubmitted
  auto pool = backend_pools_.find(job.backend_pool);
  if (pool == backend_pools_.end()) return;
  pool->second.backend->Cancel(job.id, false, [id = job.id, pool = job.backend_pool](Result<> r) {
    if (!r) Log(LogLevel::kWarn, "job {}: scancel in pool {}: {}", id, pool, r.error().message);
  });
}

// ---- routing between pools: quota, max_pending, burst ----

bool Controller::QuotaAdmits(const Job& job) const {
  return sched::QuotaLedger(options_.config.queues, QueueUsage()).Admits(QueueOf(job), JobTotal(job));
}

void Controller::HoldInBackend(const Job& job) {
  if (backend_held_.contains(job.id)) return;
  usage_ledger_.Advance(loop_.clock().Now(), QueueUsage());  // bill the past at the old rate
  backend_held_[job.id] = {QueueOf(job), JobTotal(job)};
  MarkDirty();
}

void Controller::ReleaseFromBackend(JobId id) {
  auto it = backend_held_.find(id);
  if (it == backend_held_.end()) return;
  usage_ledger_.Advance(loop_.clock().Now(), QueueUsage());
  backend_held_.erase(it);
  MarkDirty();  // the quota it held may admit others
}

std::string Controller::NeverFitsIn(const std::string& pool, const Job& job) const {
  auto it = backend_pools_.find(pool);
  if (it == backend_pools_.end() || !it->second.listed || !it->second.nodes.unavailable_reason.empty()) return "";
  int fitting = 0;
  for (const model::Node& node : it->second.nodes.nodes) fitting += job.spec.per_node.FitsIn(node.capacity);
  if (fitting >= job.spec.num_nodes) return "";
  const model::Resources& r = job.spec.per_node;
  return fmt::format("it needs {} node(s) of {} CPUs, {} MiB and {} GPUs and the pool has {} such node(s) (sinfo)",
                     job.spec.num_nodes, r.cpu_milli / 1000.0, r.memory_bytes >> 20, r.gpus, fitting);
}

void Controller::RouteToBackend(JobId id, const std::string& pool) {
  Job& job = jobs_.at(id).job;
  if (model::IsFinal(job.state) || pool.empty()) return;
  // Larger than any allocation the pool's nodes could make: on to the next pool at once.
  if (std::string why = NeverFitsIn(pool, job); !why.empty()) {
    awaiting_quota_.erase(id);
    job.backend_pool = pool;
    FailOver(id, why);
    return;
  }
  if (!QuotaAdmits(job)) {
    awaiting_quota_[id] = pool;
    job.reason = "QuotaExceeded";
    StartBackendTimer();
    return;
  }
  awaiting_quota_.erase(id);
  HoldInBackend(job);
  SubmitToBackend(id, pool);
}

TimePoint Controller::EnteredPoolAt(const Job& job) {
  return job.attempts.empty() ? job.submit_time : job.attempts.back().end_time;
}

void Controller::RouteBetweenPools() {
  std::vector<JobId> changed;
  SubmitAwaitingQuota();
  MoveOnAfterMaxPending(loop_.clock().Now(), changed);
  Burst(changed);
  if (!changed.empty()) PersistJobs(std::move(changed));
}

void Controller::SubmitAwaitingQuota() {
  // In submission order; each one admitted charges the quota before the next is asked.
  for (auto it = awaiting_quota_.begin(); it != awaiting_quota_.end();) {
    const auto [id, pool] = *it;
    it = std::next(it);
    const Job& job = jobs_.at(id).job;
    if (model::IsFinal(job.state)) {
      awaiting_quota_.erase(id);
    } else if (QuotaAdmits(job)) {
      RouteToBackend(id, pool);
    }
  }
}

void Controller::LeaveAgentsFor(JobId id, const std::string& pool, const std::string& why) {
  Job& job = jobs_.at(id).job;
  pending_.erase(id);
  reserved_.erase(id);
  job.expected_start.reset();
  if (!why.empty()) {
    model::AttemptRecord attempt;
    attempt.attempt = job.restart_count;
    attempt.state = JobState::kPending;
    attempt.reason = why;
    attempt.start_time = EnteredPoolAt(job);
    attempt.end_time = loop_.clock().Now();
    job.attempts.push_back(std::move(attempt));
  }
  Log(LogLevel::kInfo, "job {}: {} to pool {}", id, why.empty() ? "bursts" : why + "; moves", pool);
  MarkDirty();  // what it was promised (a reservation) goes to others
  RouteToBackend(id, pool);
}

void Controller::MoveOnAfterMaxPending(TimePoint now, std::vector<JobId>& changed) {
  // On the agents: to the first backend pool after the agents pool in its list.
  std::vector<std::pair<JobId, std::string>> moving;
  for (const auto& [id, pending] : pending_) {
    const Job& job = jobs_.at(id).job;
    if (!job.spec.max_pending || preemptors_.contains(id) || now - EnteredPoolAt(job) < *job.spec.max_pending) continue;
    auto agents = std::find_if(job.spec.pools.begin(), job.spec.pools.end(),
                               [&](const std::string& p) { return !backend_pools_.contains(p); });
    if (agents == job.spec.pools.end()) continue;
    if (std::string next = NextBackendPool(job.spec, *agents); !next.empty()) moving.emplace_back(id, next);
  }
  for (const auto& [id, next] : moving) {
    const Job& job = jobs_.at(id).job;
    auto agents = std::find_if(job.spec.pools.begin(), job.spec.pools.end(),
                               [&](const std::string& p) { return !backend_pools_.contains(p); });
    LeaveAgentsFor(id, next,
                   fmt::format("pool {}: pending longer than its max-pending ({} s)", *agents,
                               std::chrono::duration_cast<std::chrono::seconds>(*job.spec.max_pending).count()));
    changed.push_back(id);
  }
  // Queued inside a backend pool: cancelled there only while still queued (the update that
  // confirms it moves the job on, see ApplyBackendUpdates).
  for (const auto& [id, held] : backend_held_) {
    const Job& job = jobs_.at(id).job;
    if (job.state != JobState::kPending || job.backend_id.empty() || !job.spec.max_pending ||
        leaving_backend_.contains(id) || now - EnteredPoolAt(job) < *job.spec.max_pending) {
      continue;
    }
    auto at = std::find(job.spec.pools.begin(), job.spec.pools.end(), job.backend_pool);
    if (at == job.spec.pools.end() || std::next(at) == job.spec.pools.end()) continue;  // nowhere to go
    auto pool = backend_pools_.find(job.backend_pool);
    if (pool == backend_pools_.end()) continue;
    leaving_backend_[id] = fmt::format("pending longer than its max-pending ({} s)",
                                       std::chrono::duration_cast<std::chrono::seconds>(*job.spec.max_pending).count());
    pool->second.backend->Cancel(id, true, [id = id, pool = job.backend_pool](Result<> r) {
      if (!r) Log(LogLevel::kWarn, "job {}: scancel --state=PENDING in pool {}: {}", id, pool, r.error().message);
    });
  }
}

std::string Controller::BurstTarget(const model::JobSpec& spec) const {
  auto bursts = [&](const std::string& pool) {
    const model::PoolConfig* config = options_.config.FindPool(pool);
    return config != nullptr && config->backend == "agents" && config->burst;
  };
  if (spec.pools.empty()) {
    // Left to Weft: from a bursting agents pool into the first backend pool configured.
    const bool any = std::any_of(options_.config.pools.begin(), options_.config.pools.end(),
                                 [&](const model::PoolConfig& p) { return bursts(p.name); });
    if (!any) return "";
    for (const model::PoolConfig& p : options_.config.pools) {
      if (backend_pools_.contains(p.name)) return p.name;
    }
    return "";
  }
  for (const std::string& pool : spec.pools) {
    if (bursts(pool)) return NextBackendPool(spec, pool);
  }
  return "";
}

namespace {

// Takes room for `spec` (num_nodes ranks of per_node, each on its own node) out of `idle`;
// false, leaving `idle` as it was, when it does not fit.
bool TakeRoom(std::vector<model::Resources>& idle, const model::JobSpec& spec) {
  std::vector<std::size_t> chosen;
  for (std::size_t n = 0; n < idle.size() && static_cast<int>(chosen.size()) < spec.num_nodes; ++n) {
    if (spec.per_node.FitsIn(idle[n])) chosen.push_back(n);
  }
  if (static_cast<int>(chosen.size()) < spec.num_nodes) return false;
  for (std::size_t n : chosen) idle[n] -= spec.per_node;
  return true;
}

}  // namespace

void Controller::Burst(std::vector<JobId>& changed) {
  // What each usable backend pool has left: its idle resources as last listed, less what our
  // jobs queued there will take. A pool queueing one of ours has no room.
  std::map<std::string, std::vector<model::Resources>> room;
  for (const auto& [name, state] : backend_pools_) {
    if (!state.listed || !state.nodes.unavailable_reason.empty()) continue;
    room[name] = state.nodes.idle;
  }
  for (const auto& [id, held] : backend_held_) {
    const Job& job = jobs_.at(id).job;
    auto it = room.find(job.backend_pool);
    if (it == room.end() || job.state != JobState::kPending) continue;
    if (!TakeRoom(it->second, job.spec)) it->second.clear();
  }
  std::vector<std::pair<JobId, std::string>> bursting;
  sched::QuotaLedger quota(options_.config.queues, QueueUsage());  // charged as jobs are chosen
  for (const auto& [id, pending] : pending_) {
    const Job& job = jobs_.at(id).job;
    // Only work that waits for the agents' capacity; not for quota, dependencies or holds.
    if (job.reason != "Resources" && job.reason != "Priority") continue;
    if (preemptors_.contains(id) || !job.spec.dependency.empty()) continue;
    const std::string target = BurstTarget(job.spec);
    auto it = room.find(target);
    if (it == room.end() || !quota.Admits(QueueOf(job), JobTotal(job)) || !TakeRoom(it->second, job.spec)) continue;
    quota.Charge(QueueOf(job), JobTotal(job));
    bursting.emplace_back(id, target);
  }
  for (const auto& [id, target] : bursting) {
    jobs_.at(id).job.reason = fmt::format("Burst to pool {}", target);
    LeaveAgentsFor(id, target, "");
    changed.push_back(id);
  }
}

}  // namespace weft::controller
