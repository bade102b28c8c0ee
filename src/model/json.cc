#include "model/json.h"

#include <fmt/format.h>

namespace weft::model {

using nlohmann::json;

namespace {

json OptTime(const std::optional<TimePoint>& t) {
  return t ? json(ToUnixMicros(*t)) : json(nullptr);
}
std::optional<TimePoint> GetOptTime(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return FromUnixMicros(it->get<std::int64_t>());
}
template <class T>
void GetIf(const json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it != j.end() && !it->is_null()) out = it->get<T>();
}

Resources ResourcesFrom(const json& j) {
  Resources r;
  GetIf(j, "cpu_milli", r.cpu_milli);
  GetIf(j, "memory_bytes", r.memory_bytes);
  GetIf(j, "gpus", r.gpus);
  return r;
}

TaskExit ExitFrom(const json& j) {
  TaskExit e;
  GetIf(j, "exit_code", e.exit_code);
  GetIf(j, "signal", e.signal);
  GetIf(j, "timed_out", e.timed_out);
  GetIf(j, "oom_killed", e.oom_killed);
  GetIf(j, "killed_by_agent", e.killed_by_agent);
  GetIf(j, "preempted", e.preempted);
  return e;
}

json SignalJson(const SignalSpec& s) {
  return json{{"signal", s.signal}, {"before_us", s.before.count()}, {"batch_only", s.batch_only}};
}
std::optional<SignalSpec> GetOptSignal(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  SignalSpec s;
  s.signal = it->at("signal").get<int>();
  if (auto b = it->find("before_us"); b != it->end() && !b->is_null()) {
    s.before = Duration(b->get<std::int64_t>());
  }
  GetIf(*it, "batch_only", s.batch_only);
  return s;
}

TaskPhase PhaseFrom(const std::string& s) {
  if (s == "RUNNING") return TaskPhase::kRunning;
  if (s == "EXITED") return TaskPhase::kExited;
  return TaskPhase::kAssigned;
}

TaskKey KeyFrom(const json& j) {
  TaskKey k;
  k.job_id = j.at("job_id").get<JobId>();
  k.rank = j.at("rank").get<int>();
  GetIf(j, "attempt", k.attempt);
  return k;
}

ArraySpec ArrayFrom(const json& j) {
  ArraySpec a;
  for (const json& r : j.value("ranges", json::array())) {
    ArrayRange range;
    range.first = r.at("first").get<int>();
    range.last = r.at("last").get<int>();
    GetIf(r, "step", range.step);
    a.ranges.push_back(range);
  }
  GetIf(j, "max_running", a.max_running);
  return a;
}

Dependency DependencyFrom(const json& j) {
  Dependency d;
  for (const json& t : j.value("terms", json::array())) {
    DependencyTerm term;
    auto type = ParseDependencyType(t.at("type").get<std::string>());
    if (!type) throw json::other_error::create(501, "unknown dependency type", &t);
    term.type = *type;
    GetIf(t, "jobs", term.jobs);
    d.terms.push_back(std::move(term));
  }
  GetIf(j, "any", d.any);
  return d;
}

JobSpec SpecFrom(const json& j) {
  JobSpec s;
  GetIf(j, "name", s.name);
  GetIf(j, "num_nodes", s.num_nodes);
  if (auto it = j.find("resources"); it != j.end()) s.per_node = ResourcesFrom(*it);
  GetIf(j, "gpu_model", s.gpu_model);
  GetIf(j, "cpus_per_task", s.cpus_per_task);
  GetIf(j, "tasks_per_node", s.tasks_per_node);
  if (auto it = j.find("time_limit_us"); it != j.end() && !it->is_null()) {
    s.time_limit = Duration(it->get<std::int64_t>());
  }
  GetIf(j, "priority", s.priority);
  GetIf(j, "queue", s.queue);
  GetIf(j, "pools", s.pools);
  GetIf(j, "exclusive", s.exclusive);
  GetIf(j, "preemptible", s.preemptible);
  GetIf(j, "max_retries", s.max_retries);
  GetIf(j, "requeue", s.requeue);
  GetIf(j, "script", s.script);
  GetIf(j, "args", s.args);
  GetIf(j, "env", s.env);
  GetIf(j, "submit_dir", s.submit_dir);
  GetIf(j, "work_dir", s.work_dir);
  GetIf(j, "output", s.output_pattern);
  GetIf(j, "error", s.error_pattern);
  GetIf(j, "user", s.user);
  if (auto it = j.find("array"); it != j.end() && !it->is_null()) s.array = ArrayFrom(*it);
  if (auto it = j.find("dependency"); it != j.end() && !it->is_null()) {
    s.dependency = DependencyFrom(*it);
  }
  GetIf(j, "topology", s.topology);
  s.signal = GetOptSignal(j, "signal");
  return s;
}

// Runs a throwing decoder and turns nlohmann's exceptions into one clear error.
template <class T, class F>
Result<T> Decode(std::string_view what, F&& f) {
  try {
    return f();
  } catch (const json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("bad {}: {}", what, e.what()));
  }
}

}  // namespace

void to_json(json& j, const Resources& r) {
  j = json{{"cpu_milli", r.cpu_milli}, {"memory_bytes", r.memory_bytes}, {"gpus", r.gpus}};
}

void to_json(json& j, const JobSpec& s) {
  j = json{{"name", s.name},
           {"num_nodes", s.num_nodes},
           {"resources", s.per_node},
           {"gpu_model", s.gpu_model},
           {"cpus_per_task", s.cpus_per_task},
           {"tasks_per_node", s.tasks_per_node},
           {"time_limit_us", s.time_limit ? json(s.time_limit->count()) : json(nullptr)},
           {"priority", s.priority},
           {"queue", s.queue},
           {"pools", s.pools},
           {"exclusive", s.exclusive},
           {"preemptible", s.preemptible},
           {"max_retries", s.max_retries},
           {"requeue", s.requeue},
           {"script", s.script},
           {"args", s.args},
           {"env", s.env},
           {"submit_dir", s.submit_dir},
           {"work_dir", s.work_dir},
           {"output", s.output_pattern},
           {"error", s.error_pattern},
           {"user", s.user}};
  // Written only when set, so records of plain jobs stay as they were.
  if (!s.topology.empty()) j["topology"] = s.topology;
  if (s.signal) j["signal"] = SignalJson(*s.signal);
  if (!s.array.empty()) {
    json ranges = json::array();
    for (const ArrayRange& r : s.array.ranges) {
      ranges.push_back(json{{"first", r.first}, {"last", r.last}, {"step", r.step}});
    }
    j["array"] = json{{"ranges", std::move(ranges)}, {"max_running", s.array.max_running}};
  }
  if (!s.dependency.empty()) {
    json terms = json::array();
    for (const DependencyTerm& t : s.dependency.terms) {
      terms.push_back(json{{"type", ToString(t.type)}, {"jobs", t.jobs}});
    }
    j["dependency"] = json{{"terms", std::move(terms)}, {"any", s.dependency.any}};
  }
}

void to_json(json& j, const NodeAllocation& a) {
  j = json{{"node", a.node}, {"resources", a.resources}, {"gpu_ids", a.gpu_ids}};
}

void to_json(json& j, const TaskExit& e) {
  j = json{{"exit_code", e.exit_code},
           {"signal", e.signal},
           {"timed_out", e.timed_out},
           {"oom_killed", e.oom_killed},
           {"killed_by_agent", e.killed_by_agent},
           {"preempted", e.preempted}};
}

void to_json(json& j, const TaskRecord& t) {
  j = json{{"phase", ToString(t.phase)},
           {"start_time", OptTime(t.start_time)},
           {"end_time", OptTime(t.end_time)},
           {"exit", t.exit ? json(*t.exit) : json(nullptr)},
           {"output_path", t.output_path},
           {"error_path", t.error_path}};
}

void to_json(json& j, const Job& job) {
  j = json{{"id", job.id},
           {"spec", job.spec},
           {"state", ToString(job.state)},
           {"reason", job.reason},
           {"submit_time", ToUnixMicros(job.submit_time)},
           {"start_time", OptTime(job.start_time)},
           {"end_time", OptTime(job.end_time)},
           {"expected_start", OptTime(job.expected_start)},
           {"exit_code", job.exit_code},
           {"exit_signal", job.exit_signal},
           {"restart_count", job.restart_count},
           {"master_port", job.master_port},
           {"allocation", job.allocation.ranks},
           {"tasks", job.tasks}};
  if (job.array_job_id != 0) {
    j["array_job_id"] = job.array_job_id;
    j["array_task_id"] = job.array_task_id;
  }
  // Written only once a job was preempted, so records of other jobs stay as they were.
  if (job.preempted_at) j["preempted_at"] = ToUnixMicros(*job.preempted_at);
  if (job.preempted_by != 0) j["preempted_by"] = job.preempted_by;
  if (!job.preemption_reason.empty()) j["preemption_reason"] = job.preemption_reason;
}

void to_json(json& j, const Node& n) {
  j = json{{"name", n.name},         {"address", n.address},
           {"pool", n.pool},         {"capacity", n.capacity},
           {"gpu_model", n.gpu_model}, {"labels", n.labels},
           {"state", ToString(n.state)}, {"last_heartbeat", ToUnixMicros(n.last_heartbeat)}};
}

void to_json(json& j, const TaskKey& k) {
  j = json{{"job_id", k.job_id}, {"rank", k.rank}, {"attempt", k.attempt}};
}

void to_json(json& j, const TaskAssignment& a) {
  j = json{{"key", a.key},
           {"script", a.script},
           {"args", a.args},
           {"env", a.env},
           {"work_dir", a.work_dir},
           {"output_path", a.output_path},
           {"error_path", a.error_path},
           {"time_limit_us", a.time_limit ? json(a.time_limit->count()) : json(nullptr)},
           {"resources", a.resources},
           {"gpu_ids", a.gpu_ids}};
  if (a.warning) j["warning"] = SignalJson(*a.warning);
  if (a.stop) j["stop"] = json{{"signal", a.stop->signal}, {"grace_us", a.stop->grace.count()}};
}

void to_json(json& j, const TaskReport& r) {
  j = json{{"key", r.key},
           {"phase", ToString(r.phase)},
           {"start_time", OptTime(r.start_time)},
           {"end_time", OptTime(r.end_time)},
           {"exit", r.exit ? json(*r.exit) : json(nullptr)}};
}

void to_json(json& j, const NodeReport& r) {
  j = json{{"name", r.name},           {"address", r.address}, {"capacity", r.capacity},
           {"gpu_model", r.gpu_model}, {"labels", r.labels},   {"tasks", r.tasks}};
}

void to_json(json& j, const NodeAssignments& a) {
  j = json{{"version", a.version}, {"tasks", a.tasks}};
}

Result<JobSpec> JobSpecFromJson(const json& j) {
  return Decode<JobSpec>("job spec", [&] { return SpecFrom(j); });
}

Result<Job> JobFromJson(const json& j) {
  return Decode<Job>("job record", [&] {
    Job job;
    job.id = j.at("id").get<JobId>();
    job.spec = SpecFrom(j.at("spec"));
    auto state = ParseJobState(j.at("state").get<std::string>());
    if (!state) throw json::other_error::create(501, "unknown state", &j);
    job.state = *state;
    GetIf(j, "reason", job.reason);
    job.submit_time = FromUnixMicros(j.at("submit_time").get<std::int64_t>());
    job.start_time = GetOptTime(j, "start_time");
    job.end_time = GetOptTime(j, "end_time");
    job.expected_start = GetOptTime(j, "expected_start");  // absent in older records
    GetIf(j, "exit_code", job.exit_code);
    GetIf(j, "exit_signal", job.exit_signal);
    GetIf(j, "restart_count", job.restart_count);
    GetIf(j, "master_port", job.master_port);
    GetIf(j, "array_job_id", job.array_job_id);
    GetIf(j, "array_task_id", job.array_task_id);
    job.preempted_at = GetOptTime(j, "preempted_at");
    GetIf(j, "preempted_by", job.preempted_by);
    GetIf(j, "preemption_reason", job.preemption_reason);
    for (const json& a : j.value("allocation", json::array())) {
      NodeAllocation na;
      na.node = a.at("node").get<std::string>();
      na.resources = ResourcesFrom(a.at("resources"));
      GetIf(a, "gpu_ids", na.gpu_ids);
      job.allocation.ranks.push_back(std::move(na));
    }
    for (const json& t : j.value("tasks", json::array())) {
      TaskRecord rec;
      rec.phase = PhaseFrom(t.at("phase").get<std::string>());
      rec.start_time = GetOptTime(t, "start_time");
      rec.end_time = GetOptTime(t, "end_time");
      if (auto it = t.find("exit"); it != t.end() && !it->is_null()) rec.exit = ExitFrom(*it);
      GetIf(t, "output_path", rec.output_path);
      GetIf(t, "error_path", rec.error_path);
      job.tasks.push_back(std::move(rec));
    }
    return job;
  });
}

Result<Node> NodeFromJson(const json& j) {
  return Decode<Node>("node", [&] {
    Node n;
    n.name = j.at("name").get<std::string>();
    GetIf(j, "address", n.address);
    GetIf(j, "pool", n.pool);
    n.capacity = ResourcesFrom(j.at("capacity"));
    GetIf(j, "gpu_model", n.gpu_model);
    GetIf(j, "labels", n.labels);
    n.state = j.value("state", "UP") == "UP" ? NodeState::kUp : NodeState::kDown;
    n.last_heartbeat = FromUnixMicros(j.value("last_heartbeat", std::int64_t{0}));
    return n;
  });
}

Result<NodeReport> NodeReportFromJson(const json& j) {
  return Decode<NodeReport>("node report", [&] {
    NodeReport r;
    r.name = j.at("name").get<std::string>();
    GetIf(j, "address", r.address);
    r.capacity = ResourcesFrom(j.at("capacity"));
    GetIf(j, "gpu_model", r.gpu_model);
    GetIf(j, "labels", r.labels);
    for (const json& t : j.value("tasks", json::array())) {
      TaskReport tr;
      tr.key = KeyFrom(t.at("key"));
      tr.phase = PhaseFrom(t.at("phase").get<std::string>());
      tr.start_time = GetOptTime(t, "start_time");
      tr.end_time = GetOptTime(t, "end_time");
      if (auto it = t.find("exit"); it != t.end() && !it->is_null()) tr.exit = ExitFrom(*it);
      r.tasks.push_back(std::move(tr));
    }
    return r;
  });
}

Result<NodeAssignments> NodeAssignmentsFromJson(const json& j) {
  return Decode<NodeAssignments>("node assignments", [&] {
    NodeAssignments out;
    out.version = j.at("version").get<std::int64_t>();
    for (const json& t : j.at("tasks")) {
      TaskAssignment a;
      a.key = KeyFrom(t.at("key"));
      GetIf(t, "script", a.script);
      GetIf(t, "args", a.args);
      GetIf(t, "env", a.env);
      GetIf(t, "work_dir", a.work_dir);
      GetIf(t, "output_path", a.output_path);
      GetIf(t, "error_path", a.error_path);
      if (auto it = t.find("time_limit_us"); it != t.end() && !it->is_null()) {
        a.time_limit = Duration(it->get<std::int64_t>());
      }
      if (auto it = t.find("resources"); it != t.end()) a.resources = ResourcesFrom(*it);
      GetIf(t, "gpu_ids", a.gpu_ids);
      a.warning = GetOptSignal(t, "warning");
      if (auto it = t.find("stop"); it != t.end() && !it->is_null()) {
        StopRequest stop;
        stop.signal = it->at("signal").get<int>();
        stop.grace = Duration(it->value("grace_us", std::int64_t{0}));
        a.stop = stop;
      }
      out.tasks.push_back(std::move(a));
    }
    return out;
  });
}

Result<json> ParseJson(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(ErrorCode::kInvalidArgument, "request body is not valid JSON");
  return j;
}

}  // namespace weft::model
