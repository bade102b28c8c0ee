#include "sim/simulator.h"

#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "common/simulated_event_loop.h"
#include "controller/controller.h"
#include "controller/persister.h"
#include "store/in_memory_kv_store.h"

namespace weft::sim {
namespace {

using namespace std::chrono_literals;
using model::JobId;
using model::TaskKey;

// Simulated time 0 (the trace's first arrival). Any fixed instant works; a real date keeps
// every TimePoint the controller stores away from the "unset" zero value.
const TimePoint kEpoch = FromUnixMicros(1'483'228'800'000'000);  // 2017-01-01T00:00:00Z
// Long-poll wait of the simulated agents and node timeout of the controller: far beyond any
// trace, so neither heartbeats nor watch renewals become events of a 100-day replay.
constexpr Duration kForever = std::chrono::hours(24 * 365 * 1000);

Duration Micros(double seconds) { return Duration(std::llround(seconds * 1e6)); }
double SinceEpoch(TimePoint t) { return ToSeconds(t - kEpoch); }

Duration HourRoundUp(Duration d) {
  const Duration hour = std::chrono::hours(1);
  const auto hours = (d.count() + hour.count() - 1) / hour.count();
  return std::max<Duration::rep>(hours, 1) * hour;
}

class Replay {
 public:
  Replay(const Trace& trace, const SimulationOptions& options)
      : trace_(trace),
        options_(options),
        loop_(kEpoch),
        persister_(store_, loop_),
        controller_(loop_, persister_, ControllerOptionsFor(options)) {}

  Result<SimulationResult> Run();

 private:
  struct SimTask {
    TimerId exit_timer = 0;
    TimePoint start{};
  };
  // One simulated agent: what it runs, the exits the controller has not acknowledged yet,
  // and tombstones so that a stale assignment never restarts a finished task.
  struct SimNode {
    model::NodeReport identity;  // name, capacity, labels; `tasks` filled per report
    std::int64_t version = -1;   // matches no controller version: the first watch answers at once
    std::map<TaskKey, SimTask> running;
    std::vector<model::TaskReport> exits;
    std::set<TaskKey> finished;
    bool report_posted = false;
  };
  // Per trace job: its controller id and what the decision log and the outcome need.
  struct Track {
    JobId id = 0;
    std::optional<TimePoint> first_start;
    Duration run{0};  // rank 0's run time over all attempts
    int preemptions = 0;
    int started_attempt = -1;  // last attempt logged as started
    int stopped_attempt = -1;  // last attempt logged as stopped
    std::string nodes;         // of the current attempt, "sim-0001,sim-0002"
    bool ended = false;
  };

  static controller::ControllerOptions ControllerOptionsFor(const SimulationOptions& options) {
    controller::ControllerOptions c;
    c.node_timeout = kForever;
    c.detect_node_failures = false;  // simulated agents speak only when something happens
    c.cluster_name = "sim";
    c.config = options.config;
    return c;
  }

  Result<> CheckJobs() const;
  void RegisterNodes();
  void ScheduleArrival(std::size_t first);
  void SubmitJob(std::size_t index);
  void Watch(SimNode& node);
  void OnAssignments(SimNode& node, const model::NodeAssignments& assignments);
  void StartTask(SimNode& node, const model::TaskAssignment& assignment);
  void OnExit(SimNode& node, const TaskKey& key, bool timed_out);
  void ScheduleReport(SimNode& node);
  void SendReport(SimNode& node);
  void CheckEnded(JobId id);
  void Log(std::string_view event, const Track& track, std::string_view extra = {});

  const Trace& trace_;
  const SimulationOptions& options_;
  SimulatedEventLoop loop_;
  store::InMemoryKvStore store_;
  controller::DirectPersister persister_;
  controller::Controller controller_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  std::vector<Track> tracks_;                  // index = trace row
  std::map<JobId, std::size_t> trace_index_;   // controller id → trace row
  std::size_t ended_ = 0;
  bool finished_ = false;  // every job ended: agents stop renewing their watches
  std::optional<Error> error_;
  std::vector<std::string> decisions_;
};

Result<> Replay::CheckJobs() const {
  if (options_.nodes < 1 || options_.gpus_per_node < 1) {
    return Fail(ErrorCode::kInvalidArgument, "--nodes and --gpus-per-node must both be at least 1");
  }
  for (const TraceJob& job : trace_.jobs) {
    const GangShape shape = ShapeFor(job.num_gpus, options_.gpus_per_node);
    if (shape.num_nodes > options_.nodes) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("trace job {} needs {} GPUs ({} nodes of {}), more than the {} nodes "
                              "of the simulated cluster",
                              job.id, job.num_gpus, shape.num_nodes, options_.gpus_per_node,
                              options_.nodes));
    }
    if (!job.queue.empty() && !options_.config.FindQueue(job.queue) &&
        !options_.config.FindQueue(model::kDefaultQueue) && !options_.config.queues.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("trace job {} belongs to queue '{}', which the configuration does not "
                              "define, and there is no 'default' queue to put it in",
                              job.id, job.queue));
    }
  }
  return {};
}

void Replay::RegisterNodes() {
  for (int i = 0; i < options_.nodes; ++i) {
    auto node = std::make_unique<SimNode>();
    model::NodeReport& id = node->identity;
    id.name = fmt::format("sim-{:04}", i + 1);
    id.address = fmt::format("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    // Plentiful CPUs and memory: only GPUs bind, as in the traces' simulators.
    id.capacity = {1024 * 1000, std::int64_t{8} << 40, options_.gpus_per_node};
    const int sw = i / std::max(1, options_.nodes_per_switch);
    id.labels = {{"switch", fmt::format("sw{:03}", sw)},
                 {"rack", fmt::format("rack{:03}", sw / std::max(1, options_.switches_per_rack))}};
    nodes_.push_back(std::move(node));
  }
  for (auto& node : nodes_) {
    SendReport(*node);
    Watch(*node);
  }
}

void Replay::ScheduleArrival(std::size_t first) {
  if (first >= trace_.jobs.size()) return;
  const Duration at = Micros(trace_.jobs[first].submit_s);
  loop_.RunAt(kEpoch + at, [this, first, at] {
    // Every job arriving at this instant, in trace order; then the next instant.
    std::size_t i = first;
    for (; i < trace_.jobs.size() && Micros(trace_.jobs[i].submit_s) == at; ++i) SubmitJob(i);
    ScheduleArrival(i);
  });
}

void Replay::SubmitJob(std::size_t index) {
  const TraceJob& job = trace_.jobs[index];
  const GangShape shape = ShapeFor(job.num_gpus, options_.gpus_per_node);
  model::JobSpec spec;
  spec.name = fmt::format("trace-{}", job.id);
  spec.num_nodes = shape.num_nodes;
  spec.per_node = {1000, std::int64_t{1} << 30, shape.gpus_per_node};
  if (!job.queue.empty() && options_.config.FindQueue(job.queue)) spec.queue = job.queue;
  const Duration duration = Micros(job.duration_s);
  switch (options_.time_limits) {
    case TimeLimitModel::kNone: break;
    case TimeLimitModel::kExact: spec.time_limit = std::max(duration, Duration(1s)); break;
    case TimeLimitModel::kHour: spec.time_limit = HourRoundUp(duration); break;
    case TimeLimitModel::kHourX2: spec.time_limit = 2 * HourRoundUp(duration); break;
  }
  spec.script = "#!/bin/sh\n# simulated: runs for the trace's duration\n";
  spec.submit_dir = spec.work_dir = "/sim";
  spec.user = "sim";
  controller_.Submit(std::move(spec), [this, index](Result<model::Job> result) {
    if (!result) {
      if (!error_) {
        error_ = Error{result.error().code,
                       fmt::format("trace job {} was refused: {}", trace_.jobs[index].id,
                                   result.error().message)};
      }
      return;
    }
    tracks_[index].id = result->id;
    trace_index_[result->id] = index;
  });
}

void Replay::Watch(SimNode& node) {
  controller_.WatchNode(node.identity.name, node.version, kForever,
                        [this, &node](model::NodeAssignments a) { OnAssignments(node, a); });
}

void Replay::OnAssignments(SimNode& node, const model::NodeAssignments& assignments) {
  node.version = assignments.version;
  bool changed = false;
  std::set<TaskKey> wanted;
  std::map<TaskKey, model::TaskExit> stops;  // running tasks to stop, and how they end
  for (const model::TaskAssignment& a : assignments.tasks) {
    if (node.finished.count(a.key)) continue;
    if (a.stop) {
      // Preemption's stop request. A simulated process ends on the signal at once (a real
      // one would within the grace period); one never started is reported exited unstarted.
      const model::TaskExit preempted{.exit_code = 128 + a.stop->signal, .signal = a.stop->signal,
                                      .preempted = true};
      if (node.running.count(a.key)) {
        stops.emplace(a.key, preempted);
      } else {
        model::TaskReport report;
        report.key = a.key;
        report.phase = model::TaskPhase::kExited;
        report.end_time = loop_.clock().Now();
        report.exit = model::TaskExit{.preempted = true};
        node.exits.push_back(std::move(report));
        node.finished.insert(a.key);
        changed = true;
      }
      continue;
    }
    wanted.insert(a.key);
    if (node.running.count(a.key)) continue;
    StartTask(node, a);
    changed = true;
  }
  // Level-triggered: a running task that is no longer wanted is killed (cancel, the rest of
  // a gang that ended, a preemption without stop request).
  for (const auto& [key, task] : node.running) {
    if (!wanted.count(key) && !stops.count(key)) {
      stops.emplace(key, model::TaskExit{.exit_code = 128 + 9, .signal = 9, .killed_by_agent = true});
    }
  }
  for (const auto& [key, exit] : stops) {
    auto it = node.running.find(key);
    loop_.Cancel(it->second.exit_timer);
    model::TaskReport report;
    report.key = key;
    report.phase = model::TaskPhase::kExited;
    report.start_time = it->second.start;
    report.end_time = loop_.clock().Now();
    report.exit = exit;
    if (auto t = trace_index_.find(key.job_id); t != trace_index_.end() && key.rank == 0) {
      Track& track = tracks_[t->second];
      track.run += loop_.clock().Now() - it->second.start;
      if (track.stopped_attempt != key.attempt) {
        track.stopped_attempt = key.attempt;
        Log("stop", track);
      }
    }
    node.exits.push_back(std::move(report));
    node.finished.insert(key);
    node.running.erase(it);
    changed = true;
  }
  if (changed) ScheduleReport(node);
  if (!finished_) Watch(node);
}

void Replay::StartTask(SimNode& node, const model::TaskAssignment& assignment) {
  const TaskKey key = assignment.key;
  auto t = trace_index_.find(key.job_id);
  if (t == trace_index_.end()) return;  // not a trace job: cannot happen, nothing else submits
  Track& track = tracks_[t->second];
  const TimePoint now = loop_.clock().Now();
  const Duration duration = Micros(trace_.jobs[t->second].duration_s);
  Duration run = duration;
  bool timed_out = false;
  if (assignment.time_limit && duration > *assignment.time_limit) {
    run = *assignment.time_limit;
    timed_out = true;
  }
  SimTask& task = node.running[key];
  task.start = now;
  task.exit_timer = loop_.RunAt(now + run, [this, &node, key, timed_out] { OnExit(node, key, timed_out); });
  if (key.rank != 0 || track.started_attempt == key.attempt) return;
  track.started_attempt = key.attempt;
  if (!track.first_start) track.first_start = now;
  if (key.attempt > 0) ++track.preemptions;
  track.nodes.clear();
  if (const model::Job* job = controller_.FindJob(key.job_id)) {
    for (const model::NodeAllocation& rank : job->allocation.ranks) {
      if (!track.nodes.empty()) track.nodes += ',';
      track.nodes += rank.node;
    }
  }
  Log("start", track);
}

void Replay::OnExit(SimNode& node, const TaskKey& key, bool timed_out) {
  auto it = node.running.find(key);
  if (it == node.running.end()) return;
  model::TaskReport report;
  report.key = key;
  report.phase = model::TaskPhase::kExited;
  report.start_time = it->second.start;
  report.end_time = loop_.clock().Now();
  report.exit = timed_out ? model::TaskExit{.exit_code = 128 + 9, .signal = 9, .timed_out = true}
                          : model::TaskExit{};
  if (key.rank == 0) {
    if (auto t = trace_index_.find(key.job_id); t != trace_index_.end()) {
      tracks_[t->second].run += loop_.clock().Now() - it->second.start;
    }
  }
  node.running.erase(it);
  node.finished.insert(key);
  node.exits.push_back(std::move(report));
  ScheduleReport(node);
}

void Replay::ScheduleReport(SimNode& node) {
  // Like the real agent: a burst of changes in one loop turn becomes one report.
  if (std::exchange(node.report_posted, true)) return;
  loop_.Post([this, &node] {
    node.report_posted = false;
    SendReport(node);
  });
}

void Replay::SendReport(SimNode& node) {
  model::NodeReport report = node.identity;
  for (const auto& [key, task] : node.running) {
    model::TaskReport t;
    t.key = key;
    t.phase = model::TaskPhase::kRunning;
    t.start_time = task.start;
    report.tasks.push_back(std::move(t));
  }
  std::vector<TaskKey> carried;
  for (const model::TaskReport& exit : node.exits) {
    report.tasks.push_back(exit);
    carried.push_back(exit.key);
  }
  controller_.ReportNode(std::move(report), [this, &node, carried](Result<std::int64_t>) {
    // The exits are durable: forget them (the tombstones stay), then see which jobs ended.
    std::erase_if(node.exits, [&](const model::TaskReport& r) {
      return std::find(carried.begin(), carried.end(), r.key) != carried.end();
    });
    for (const TaskKey& key : carried) CheckEnded(key.job_id);
  });
}

void Replay::CheckEnded(JobId id) {
  auto t = trace_index_.find(id);
  if (t == trace_index_.end()) return;
  Track& track = tracks_[t->second];
  const model::Job* job = controller_.FindJob(id);
  if (track.ended || !job || !model::IsFinal(job->state) || job->HoldsResources()) return;
  track.ended = true;
  Log("end", track, model::ToString(job->state));
  if (++ended_ == trace_.jobs.size()) finished_ = true;
}

void Replay::Log(std::string_view event, const Track& track, std::string_view extra) {
  const JobId trace_id = trace_.jobs[trace_index_.at(track.id)].id;
  decisions_.push_back(fmt::format("{:.3f} {} {} {}{}{}", SinceEpoch(loop_.clock().Now()), event,
                                   trace_id, track.nodes, extra.empty() ? "" : " ", extra));
}

Result<SimulationResult> Replay::Run() {
  if (Result<> ok = CheckJobs(); !ok) return tl::unexpected(ok.error());
  tracks_.resize(trace_.jobs.size());
  RegisterNodes();
  loop_.RunUntil(kEpoch);
  ScheduleArrival(0);
  // Every event of the replay happens long before kForever; past it only the agents' idle
  // watches fire (and, once every job has ended, are not renewed). A job that can never start
  // (a quota it can never get) leaves the loop with work after three rounds of them.
  loop_.RunUntil(kEpoch + 3 * kForever);
  if (error_) return tl::unexpected(*error_);
  SimulationResult result;
  result.outcomes.reserve(trace_.jobs.size());
  for (std::size_t i = 0; i < trace_.jobs.size(); ++i) {
    const Track& track = tracks_[i];
    const model::Job* job = controller_.FindJob(track.id);
    if (!track.ended || !job || !job->end_time) {
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("trace job {} never ended (state {}, reason {})", trace_.jobs[i].id,
                              job ? model::ToString(job->state) : "unknown",
                              job ? job->reason : "never submitted"));
    }
    JobOutcome o;
    o.id = trace_.jobs[i].id;
    o.queue = trace_.jobs[i].queue;
    o.num_gpus = trace_.jobs[i].num_gpus;
    o.submit_s = SinceEpoch(job->submit_time);
    o.first_start_s = track.first_start ? SinceEpoch(*track.first_start) : o.submit_s;
    o.end_s = SinceEpoch(*job->end_time);
    o.preemptions = track.preemptions;
    o.run_s = ToSeconds(track.run);
    result.outcomes.push_back(std::move(o));
  }
  result.decisions = std::move(decisions_);
  return result;
}

}  // namespace

bool ParseTimeLimitModel(std::string_view text, TimeLimitModel& out) {
  if (text == "none") out = TimeLimitModel::kNone;
  else if (text == "exact") out = TimeLimitModel::kExact;
  else if (text == "hour") out = TimeLimitModel::kHour;
  else if (text == "hour-x2") out = TimeLimitModel::kHourX2;
  else return false;
  return true;
}

GangShape ShapeFor(int num_gpus, int gpus_per_node) {
  if (num_gpus <= gpus_per_node) return {1, num_gpus};
  return {(num_gpus + gpus_per_node - 1) / gpus_per_node, gpus_per_node};
}

Result<SimulationResult> RunSimulation(const Trace& trace, const SimulationOptions& options) {
  // The replay holds the controller and its loop; it lives for one run.
  auto replay = std::make_unique<Replay>(trace, options);
  return replay->Run();
}

}  // namespace weft::sim
