#include "api/metrics_catalog.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "model/queue.h"

namespace weft::api {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string QueueLabel(const model::Job& job) {
  return job.spec.queue.empty() ? model::kDefaultQueue : job.spec.queue;
}

double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

constexpr model::JobState kAllJobStates[] = {
    model::JobState::kPending,   model::JobState::kRunning, model::JobState::kCompleted,
    model::JobState::kFailed,    model::JobState::kCancelled, model::JobState::kTimeout,
    model::JobState::kOomKilled, model::JobState::kNodeFail,  model::JobState::kPreempted,
};

}  // namespace

WeftMetrics::WeftMetrics()
    : submitted_(registry_.AddCounter("weft_jobs_submitted_total", "Jobs submitted and acknowledged, by queue.",
                                      {"queue"})),
      completed_(registry_.AddCounter("weft_jobs_completed_total",
                                      "Jobs that reached a final state, by queue and final state.",
                                      {"queue", "state"})),
      queue_wait_(registry_.AddHistogram(
          "weft_job_queue_wait_seconds",
          "Time from submission (or requeue) to start, observed when a job starts, by queue.", {"queue"},
          {0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, 86400})),
      cycle_duration_(registry_.AddHistogram(
          "weft_scheduling_cycle_duration_seconds", "Wall-clock duration of each scheduling cycle.", {},
          {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5})),
      request_duration_(registry_.AddHistogram(
          "weft_api_request_duration_seconds",
          "API calls from receipt to response, by route template, method and status code "
          "(long polls included: they last up to their wait_ms).",
          {"route", "method", "code"},
          {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60})) {}

void WeftMetrics::OnJobSubmitted(const model::Job& job) { submitted_.Inc({QueueLabel(job)}); }

void WeftMetrics::OnJobStarted(const model::Job& job) {
  if (!job.start_time) return;
  // A requeued job waits again from the end of its previous attempt.
  const TimePoint queued = job.restart_count > 0 && !job.attempts.empty() ? job.attempts.back().end_time
                                                                          : job.submit_time;
  queue_wait_.Observe({QueueLabel(job)}, std::max(0.0, ToSeconds(*job.start_time - queued)));
}

void WeftMetrics::OnJobFinished(const model::Job& job) {
  completed_.Inc({QueueLabel(job), std::string(model::ToString(job.state))});
}

void WeftMetrics::OnCycleBegin() { cycle_start_ = SteadyClock::now(); }

void WeftMetrics::OnCycleEnd() { cycle_duration_.Observe({}, SecondsSince(cycle_start_)); }

net::Responder WeftMetrics::TimeRequest(const net::HttpRequest& request, net::Responder respond) {
  return [this, respond = std::move(respond), route = RouteTemplate(request.path),
          method = std::string(MethodLabel(request.method)), start = SteadyClock::now()](net::HttpResponse r) {
    request_duration_.Observe({route, method, std::to_string(r.status)}, SecondsSince(start));
    respond(std::move(r));
  };
}

std::string WeftMetrics::Render(const controller::Controller& controller) const {
  // Jobs by queue and state; every state of every configured queue, zeros included, so a
  // series drops to 0 rather than vanishing.
  std::map<std::pair<std::string, model::JobState>, double> jobs;
  for (const controller::QueueStatus& queue : controller.ListQueues()) {
    for (model::JobState state : kAllJobStates) jobs[{queue.config.name, state}] = 0;
  }
  controller.ForEachJob({}, [&](const model::Job& job) { jobs[{QueueLabel(job), job.state}] += 1; });
  GaugeFamily by_state{"weft_jobs", "Jobs the controller knows, by queue and state.", {"queue", "state"}, {}};
  for (const auto& [key, count] : jobs) by_state.Set({key.first, std::string(model::ToString(key.second))}, count);

  // Nodes by pool: count by state; capacity and allocation of UP nodes.
  GaugeFamily nodes{"weft_nodes", "Nodes by pool and state (UP, DOWN).", {"pool", "state"}, {}};
  GaugeFamily capacity{"weft_node_capacity",
                       "Capacity of the UP nodes, by pool; resource is gpus, cpus or memory_bytes.",
                       {"pool", "resource"}, {}};
  GaugeFamily allocated{"weft_node_allocated",
                        "Resources held by jobs on the UP nodes, by pool; resource is gpus, cpus or memory_bytes.",
                        {"pool", "resource"}, {}};
  struct PoolTotals {
    double up = 0, down = 0;
    model::Resources capacity, allocated;
  };
  std::map<std::string, PoolTotals> pools;
  for (const controller::NodeStatus& node : controller.ListNodes()) {
    PoolTotals& pool = pools[node.node.pool];
    if (node.state != model::NodeState::kUp) {
      pool.down += 1;
      continue;
    }
    pool.up += 1;
    pool.capacity += node.node.capacity;
    pool.allocated += node.allocated;
  }
  auto set_resources = [](GaugeFamily& family, const std::string& pool, const model::Resources& r) {
    family.Set({pool, "gpus"}, static_cast<double>(r.gpus));
    family.Set({pool, "cpus"}, static_cast<double>(r.cpu_milli) / 1000.0);
    family.Set({pool, "memory_bytes"}, static_cast<double>(r.memory_bytes));
  };
  for (const auto& [name, pool] : pools) {
    nodes.Set({name, std::string(model::ToString(model::NodeState::kUp))}, pool.up);
    nodes.Set({name, std::string(model::ToString(model::NodeState::kDown))}, pool.down);
    set_resources(capacity, name, pool.capacity);
    set_resources(allocated, name, pool.allocated);
  }
  return registry_.Render({std::move(by_state), std::move(nodes), std::move(capacity), std::move(allocated)});
}

std::string RouteTemplate(std::string_view path) {
  if (path == "/healthz" || path == "/metrics" || path == "/" || path == "/v1/cluster/history") {
    return std::string(path);
  }
  if (!StartsWith(path, "/v1/")) return "other";
  const std::vector<std::string> parts = Split(path.substr(1), '/');
  const std::string& collection = parts.size() > 1 ? parts[1] : std::string();
  static const std::map<std::string, std::string> kParam = {
      {"jobs", "{id}"}, {"users", "{name}"}, {"agents", "{name}"}, {"nodes", "{name}"},
      {"queues", "{name}"}, {"services", "{name}"}, {"history", ""}};
  auto it = kParam.find(collection);
  if (it == kParam.end()) return "other";
  std::string route = "/v1/" + collection;
  if (parts.size() == 2) return route;
  if (it->second.empty()) return "other";
  route += "/" + it->second;
  if (parts.size() == 3) return route;
  // A fixed set of sub-resources; anything else (or deeper) is "other".
  static const std::vector<std::string> kActions = {"logs", "cancel", "report", "assignments"};
  if (parts.size() == 4 && std::find(kActions.begin(), kActions.end(), parts[3]) != kActions.end()) {
    return route + "/" + parts[3];
  }
  return "other";
}

std::string_view MethodLabel(std::string_view method) {
  for (std::string_view known : {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}) {
    if (method == known) return known;
  }
  return "other";
}

}  // namespace weft::api
