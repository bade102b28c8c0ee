#include "api/job_view.h"

#include "controller/accounting.h"
#include "model/json.h"

namespace weft::api {

using nlohmann::json;

namespace {
json OptTime(const std::optional<TimePoint>& t) {
  return t ? json(static_cast<double>(ToUnixMicros(*t)) / 1e6) : json(nullptr);
}
double Seconds(std::int64_t usec) { return static_cast<double>(usec) / 1e6; }

json UsageView(const model::TaskUsage& u) {
  return json{{"cpu_s", Seconds(u.cpu_usec)},
              {"memory_peak_bytes", u.memory_peak_bytes},
              {"memory_current_bytes", u.memory_current_bytes},
              {"memory_limit_bytes", u.memory_limit_bytes},
              {"gpu_utilization", u.gpu_utilization >= 0 ? json(u.gpu_utilization) : json(nullptr)}};
}

json AttemptView(const model::Job& job, const model::AttemptRecord& a) {
  return json{{"job_id", job.id},
              {"name", job.spec.name},
              {"user", job.spec.user},
              {"queue", job.spec.queue.empty() ? std::string(model::kDefaultQueue) : job.spec.queue},
              {"attempt", a.attempt},
              {"state", model::ToString(a.state)},
              {"reason", a.reason},
              {"start_time", OptTime(a.start_time)},
              {"end_time", OptTime(a.end_time)},
              {"elapsed_s", Seconds(std::chrono::duration_cast<std::chrono::microseconds>(a.end_time - a.start_time).count())},
              {"exit_code", a.exit_code},
              {"exit_signal", a.exit_signal},
              {"nodes", a.nodes},
              {"cpu_s", Seconds(a.cpu_usec)},
              {"memory_peak_bytes", a.memory_peak_bytes},
              {"memory_limit_bytes", a.memory_limit_bytes},
              {"gpu_s", Seconds(a.gpu_usec)},
              {"gpu_utilization", a.gpu_utilization >= 0 ? json(a.gpu_utilization) : json(nullptr)}};
}
}  // namespace

json JobSummary(const model::Job& job) {
  json nodes = json::array();
  for (const auto& rank : job.allocation.ranks) nodes.push_back(rank.node);
  return json{
      {"id", job.id},
      {"name", job.spec.name},
      {"user", job.spec.user},
      {"queue", job.spec.queue},
      {"state", model::ToString(job.state)},
      {"reason", job.reason},
      {"priority", job.spec.priority},
      {"num_nodes", job.spec.num_nodes},
      {"resources", job.spec.per_node},
      {"gpu_model", job.spec.gpu_model},
      {"time_limit_s", job.spec.time_limit ? json(job.spec.time_limit->count() / 1000000) : json(nullptr)},
      {"submit_time", OptTime(job.submit_time)},
      {"start_time", OptTime(job.start_time)},
      {"end_time", OptTime(job.end_time)},
      // When a reservation expects this pending job to start (like squeue --start); null
      // when it has none or is not pending.
      {"expected_start", job.state == model::JobState::kPending ? OptTime(job.expected_start)
                                                                : json(nullptr)},
      {"exit_code", job.exit_code},
      {"exit_signal", job.exit_signal},
      {"restart_count", job.restart_count},
      // The last preemption ("" = never preempted), and while the job is being stopped for
      // another, when that began (null otherwise).
      {"preemption_reason", job.preemption_reason},
      {"node_failure", job.node_failure},  // the last node failure ("" = none)
      // Jobs of a backend pool (slurm): the pool and the backend's id (the Slurm job id), ""
      // for jobs on Weft's own agents or before the backend accepted the job.
      {"backend_pool", job.backend_pool},
      {"backend_id", job.backend_id},
      {"preempted_at",
       job.state == model::JobState::kRunning ? OptTime(job.preempted_at) : json(nullptr)},
      {"nodes", nodes},
      {"work_dir", job.spec.work_dir},
      // Array tasks: the array job id (its first task's id) and this task's index; null otherwise.
      {"array_job_id", job.array_job_id != 0 ? json(job.array_job_id) : json(nullptr)},
      {"array_task_id", job.array_job_id != 0 ? json(job.array_task_id) : json(nullptr)},
      // The current attempt's usage over its ranks (live while running); null when unmeasured.
      {"usage", [&] {
         auto usage = controller::JobUsage(job);
         return usage ? UsageView(*usage) : json(nullptr);
       }()},
  };
}

json JobDetail(const model::Job& job) {
  json j = JobSummary(job);
  j["spec"] = job.spec;
  j["master_port"] = job.master_port;
  json ranks = json::array();
  for (std::size_t r = 0; r < job.allocation.ranks.size(); ++r) {
    json rank = job.allocation.ranks[r];
    if (r < job.tasks.size()) rank["task"] = job.tasks[r];
    ranks.push_back(std::move(rank));
  }
  j["ranks"] = std::move(ranks);
  json attempts = json::array();
  for (const model::AttemptRecord& a : job.attempts) attempts.push_back(AttemptView(job, a));
  j["attempts"] = std::move(attempts);
  return j;
}

std::vector<json> HistoryRows(const model::Job& job, const HistoryFilter& filter, TimePoint now) {
  std::vector<json> rows;
  if (!filter.user.empty() && job.spec.user != filter.user) return rows;
  const std::string queue = job.spec.queue.empty() ? std::string(model::kDefaultQueue) : job.spec.queue;
  if (!filter.queue.empty() && queue != filter.queue) return rows;
  for (const model::AttemptRecord& a : job.attempts) {
    if (filter.since && a.end_time < *filter.since) continue;
    rows.push_back(AttemptView(job, a));
  }
  // The attempt in progress, as sacct shows running jobs.
  if (job.state == model::JobState::kRunning && job.start_time) {
    model::AttemptRecord current = controller::EndAttempt(job, now, model::JobState::kRunning);
    current.state = model::JobState::kRunning;
    current.reason = job.reason;
    json row = AttemptView(job, current);
    row["end_time"] = nullptr;
    rows.push_back(std::move(row));
  }
  return rows;
}

json NodeView(const controller::NodeStatus& status) {
  json jobs = status.jobs;
  // Slurm's sinfo words: a draining node is DRAINING while jobs still run there, then DRAINED.
  std::string state(model::ToString(status.state));
  if (status.state == model::NodeState::kUp && status.node.drain) state = status.jobs.empty() ? "DRAINED" : "DRAINING";
  return json{{"name", status.node.name},
              {"address", status.node.address},
              {"pool", status.node.pool},
              {"state", state},
              {"drain_reason", status.node.drain_reason},
              {"capacity", status.node.capacity},
              {"allocated", status.allocated},
              {"gpu_model", status.node.gpu_model},
              {"labels", status.node.labels},
              {"gpus", [&] {
                 json gpus = json::array();
                 for (const model::GpuInfo& g : status.node.gpus) {
                   gpus.push_back(json{{"index", g.index}, {"uuid", g.uuid}, {"model", g.model},
                                       {"memory_bytes", g.memory_bytes}});
                 }
                 return gpus;
               }()},
              {"isolation", model::ToString(status.node.isolation)},
              {"jobs", jobs},
              {"last_heartbeat", static_cast<double>(ToUnixMicros(status.node.last_heartbeat)) / 1e6}};
}

json GpuHolders(const controller::NodeStatus& status,
               const std::function<const model::Job*(model::JobId)>& find) {
  json holders = json::array();
  for (std::int64_t i = 0; i < status.node.capacity.gpus; ++i) holders.push_back(nullptr);
  for (model::JobId id : status.jobs) {
    const model::Job* job = find(id);
    if (!job) continue;
    for (std::size_t r = 0; r < job->allocation.ranks.size(); ++r) {
      const model::NodeAllocation& rank = job->allocation.ranks[r];
      if (rank.node != status.node.name) continue;
      if (r < job->tasks.size() && job->tasks[r].phase == model::TaskPhase::kExited) continue;
      for (int gpu : rank.gpu_ids) {
        if (gpu >= 0 && static_cast<std::size_t>(gpu) < holders.size()) holders[gpu] = id;
      }
    }
  }
  return holders;
}

namespace {
json LimitsView(const model::ResourceLimits& limits) {
  auto value = [](const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); };
  return json{{"cpu_milli", value(limits.cpu_milli)},
              {"memory_bytes", value(limits.memory_bytes)},
              {"gpus", value(limits.gpus)}};
}
}  // namespace

json QueueView(const controller::QueueStatus& status) {
  const model::QueueConfig& q = status.config;
  return json{{"name", q.name},
              {"quota", LimitsView(q.quota)},
              {"borrow_limit", LimitsView(q.borrow_limit)},
              {"cohort", q.cohort},
              {"weight", q.weight},
              {"default_time_s", q.default_time ? json(q.default_time->count() / 1000000) : json(nullptr)},
              {"usage", status.usage},
              {"borrowed", status.borrowed},
              {"pending_demand", status.pending_demand},
              {"running_jobs", status.running_jobs},
              {"decayed_usage", status.decayed_usage},
              {"fair_share", status.fair_share},
              {"pending_jobs", status.pending_jobs}};
}

}  // namespace weft::api
