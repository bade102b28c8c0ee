#include "model/json.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <type_traits>

#include <fmt/format.h>

namespace weft::model {

using nlohmann::json;

namespace {

// A decoding error that names its field; Decode turns it into the Result's message.
struct FieldError {
  std::string message;
};

template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};

// `v` as a T. Integers are range-checked here: nlohmann's get<int>() on 1e30 (a JSON
// float) is a float-to-integer cast out of range, which is undefined behaviour, and on a large
// integer it silently wraps. Other type mismatches become a FieldError naming `field`.
template <class T>
T As(const json& v, std::string_view field) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    constexpr auto kMin = std::numeric_limits<T>::min();
    constexpr auto kMax = std::numeric_limits<T>::max();
    if (v.is_number_unsigned()) {
      const auto u = v.get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(kMax)) return static_cast<T>(u);
    } else if (v.is_number_integer()) {
      const auto i = v.get<std::int64_t>();
      if (i >= static_cast<std::int64_t>(kMin) && i <= static_cast<std::int64_t>(kMax)) {
        return static_cast<T>(i);
      }
    } else if (v.is_number_float()) {
      const double d = v.get<double>();
      if (std::trunc(d) != d) {
        throw FieldError{fmt::format("field '{}': {} is not a whole number", field, v.dump())};
      }
      // T holds exactly [kMin, 2^digits); both ends are exact in double (powers of two or 0).
      const double end = std::ldexp(1.0, std::numeric_limits<T>::digits);
      if (d >= static_cast<double>(kMin) && d < end) return static_cast<T>(d);
    } else {
      throw FieldError{fmt::format("field '{}': must be a number, not {}", field, v.type_name())};
    }
    throw FieldError{fmt::format("field '{}': {} is out of range ({} to {})", field, v.dump(), kMin, kMax)};
  } else if constexpr (IsVector<T>::value) {
    if (!v.is_array()) {
      throw FieldError{fmt::format("field '{}': must be an array, not {}", field, v.type_name())};
    }
    T out;
    out.reserve(v.size());
    for (const json& e : v) out.push_back(As<typename T::value_type>(e, field));
    return out;
  } else {
    try {
      return v.get<T>();
    } catch (const json::exception& e) {
      throw FieldError{fmt::format("field '{}': {}", field, e.what())};
    }
  }
}
// The required field `key` of object `j`.
template <class T>
T Req(const json& j, const char* key) {
  if (!j.is_object()) throw FieldError{fmt::format("field '{}': its parent is not an object", key)};
  auto it = j.find(key);
  if (it == j.end()) throw FieldError{fmt::format("field '{}': is missing", key)};
  return As<T>(*it, key);
}
// The field `key` of object `j`, or `fallback` when it is absent or null.
template <class T>
T Opt(const json& j, const char* key, T fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return As<T>(*it, key);
}

json OptTime(const std::optional<TimePoint>& t) {
  return t ? json(ToUnixMicros(*t)) : json(nullptr);
}
std::optional<TimePoint> GetOptTime(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return FromUnixMicros(As<std::int64_t>(*it, key));
}
template <class T>
void GetIf(const json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it != j.end() && !it->is_null()) out = As<T>(*it, key);
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
  GetIf(j, "node_failed", e.node_failed);
  return e;
}

// Usage, attempts, GPUs and isolation are written only when present, so older records and
// records of jobs without them stay as they were.
json UsageJson(const TaskUsage& u) {
  return json{{"cpu_usec", u.cpu_usec},
              {"memory_peak_bytes", u.memory_peak_bytes},
              {"memory_current_bytes", u.memory_current_bytes},
              {"memory_limit_bytes", u.memory_limit_bytes},
              {"gpu_utilization", u.gpu_utilization}};
}
TaskUsage UsageFrom(const json& j) {
  TaskUsage u;
  GetIf(j, "cpu_usec", u.cpu_usec);
  GetIf(j, "memory_peak_bytes", u.memory_peak_bytes);
  GetIf(j, "memory_current_bytes", u.memory_current_bytes);
  GetIf(j, "memory_limit_bytes", u.memory_limit_bytes);
  GetIf(j, "gpu_utilization", u.gpu_utilization);
  return u;
}
std::optional<TaskUsage> GetOptUsage(const json& j) {
  auto it = j.find("usage");
  if (it == j.end() || it->is_null()) return std::nullopt;
  return UsageFrom(*it);
}

json AttemptJson(const AttemptRecord& a) {
  return json{{"attempt", a.attempt},
              {"state", ToString(a.state)},
              {"reason", a.reason},
              {"start_time", ToUnixMicros(a.start_time)},
              {"end_time", ToUnixMicros(a.end_time)},
              {"exit_code", a.exit_code},
              {"exit_signal", a.exit_signal},
              {"nodes", a.nodes},
              {"cpu_usec", a.cpu_usec},
              {"memory_peak_bytes", a.memory_peak_bytes},
              {"memory_limit_bytes", a.memory_limit_bytes},
              {"gpu_usec", a.gpu_usec},
              {"gpu_utilization", a.gpu_utilization}};
}
AttemptRecord AttemptFrom(const json& j) {
  AttemptRecord a;
  GetIf(j, "attempt", a.attempt);
  auto state = ParseJobState(j.at("state").get<std::string>());
  if (!state) throw json::other_error::create(501, "unknown attempt state", &j);
  a.state = *state;
  GetIf(j, "reason", a.reason);
  a.start_time = FromUnixMicros(Opt(j, "start_time", std::int64_t{0}));
  a.end_time = FromUnixMicros(Opt(j, "end_time", std::int64_t{0}));
  GetIf(j, "exit_code", a.exit_code);
  GetIf(j, "exit_signal", a.exit_signal);
  GetIf(j, "nodes", a.nodes);
  GetIf(j, "cpu_usec", a.cpu_usec);
  GetIf(j, "memory_peak_bytes", a.memory_peak_bytes);
  GetIf(j, "memory_limit_bytes", a.memory_limit_bytes);
  GetIf(j, "gpu_usec", a.gpu_usec);
  GetIf(j, "gpu_utilization", a.gpu_utilization);
  return a;
}

void PutGpusAndIsolation(json& j, const std::vector<GpuInfo>& gpus, const NodeIsolation& iso) {
  if (!gpus.empty()) {
    json list = json::array();
    for (const GpuInfo& g : gpus) {
      list.push_back(json{{"index", g.index}, {"uuid", g.uuid}, {"model", g.model},
                          {"memory_bytes", g.memory_bytes}});
    }
    j["gpus"] = std::move(list);
  }
  if (iso != NodeIsolation{}) {
    j["isolation"] = json{{"cgroup", iso.cgroup}, {"memory", iso.memory}, {"cpu", iso.cpu},
                          {"pids", iso.pids},     {"cpuset", iso.cpuset}, {"devices", iso.devices},
                          {"user", iso.user}};
  }
}
void GetGpusAndIsolation(const json& j, std::vector<GpuInfo>& gpus, NodeIsolation& iso) {
  for (const json& g : j.value("gpus", json::array())) {
    GpuInfo info;
    GetIf(g, "index", info.index);
    GetIf(g, "uuid", info.uuid);
    GetIf(g, "model", info.model);
    GetIf(g, "memory_bytes", info.memory_bytes);
    gpus.push_back(std::move(info));
  }
  if (auto it = j.find("isolation"); it != j.end() && it->is_object()) {
    GetIf(*it, "cgroup", iso.cgroup);
    GetIf(*it, "memory", iso.memory);
    GetIf(*it, "cpu", iso.cpu);
    GetIf(*it, "pids", iso.pids);
    GetIf(*it, "cpuset", iso.cpuset);
    GetIf(*it, "devices", iso.devices);
    GetIf(*it, "user", iso.user);
  }
}

json SignalJson(const SignalSpec& s) {
  return json{{"signal", s.signal}, {"before_us", s.before.count()}, {"batch_only", s.batch_only}};
}
std::optional<SignalSpec> GetOptSignal(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  SignalSpec s;
  s.signal = Req<int>(*it, "signal");
  if (auto b = it->find("before_us"); b != it->end() && !b->is_null()) {
    s.before = Duration(As<std::int64_t>(*b, "before_us"));
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
  k.job_id = Req<JobId>(j, "job_id");
  k.rank = Req<int>(j, "rank");
  GetIf(j, "attempt", k.attempt);
  return k;
}

ArraySpec ArrayFrom(const json& j) {
  ArraySpec a;
  for (const json& r : j.value("ranges", json::array())) {
    ArrayRange range;
    range.first = Req<int>(r, "first");
    range.last = Req<int>(r, "last");
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
    s.time_limit = Duration(As<std::int64_t>(*it, "time_limit_us"));
  }
  GetIf(j, "priority", s.priority);
  GetIf(j, "queue", s.queue);
  GetIf(j, "pools", s.pools);
  GetIf(j, "host_port", s.host_port);
  if (auto it = j.find("max_pending_us"); it != j.end() && !it->is_null()) {
    s.max_pending = Duration(As<std::int64_t>(*it, "max_pending_us"));
  }
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
  GetIf(j, "require_isolation", s.require_isolation);
  GetIf(j, "service", s.service);
  GetIf(j, "service_generation", s.service_generation);
  s.signal = GetOptSignal(j, "signal");
  return s;
}

// Runs a throwing decoder and turns nlohmann's exceptions into one clear error.
template <class T, class F>
Result<T> Decode(std::string_view what, F&& f) {
  try {
    return f();
  } catch (const FieldError& e) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("bad {}: {}", what, e.message));
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
  if (s.max_pending) j["max_pending_us"] = s.max_pending->count();
  if (s.host_port) j["host_port"] = s.host_port;
  if (s.require_isolation) j["require_isolation"] = true;
  if (!s.service.empty()) {
    j["service"] = s.service;
    j["service_generation"] = s.service_generation;
  }
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
  if (e.node_failed) j["node_failed"] = true;
}

void to_json(json& j, const TaskRecord& t) {
  j = json{{"phase", ToString(t.phase)},
           {"start_time", OptTime(t.start_time)},
           {"end_time", OptTime(t.end_time)},
           {"exit", t.exit ? json(*t.exit) : json(nullptr)},
           {"output_path", t.output_path},
           {"error_path", t.error_path}};
  if (t.usage) j["usage"] = UsageJson(*t.usage);
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
  if (!job.idempotency_key.empty()) j["idempotency_key"] = job.idempotency_key;
  if (job.node_failed_at) j["node_failed_at"] = ToUnixMicros(*job.node_failed_at);
  if (!job.node_failure.empty()) j["node_failure"] = job.node_failure;
  if (!job.backend_pool.empty()) j["backend_pool"] = job.backend_pool;
  if (!job.backend_id.empty()) j["backend_id"] = job.backend_id;
  if (!job.attempts.empty()) {
    json attempts = json::array();
    for (const AttemptRecord& a : job.attempts) attempts.push_back(AttemptJson(a));
    j["attempts"] = std::move(attempts);
  }
}

namespace {

// The pieces of EncodeJob. Every object's keys are written in sorted order, as nlohmann's
// std::map-backed objects dump them.
class JobWriter {
 public:
  explicit JobWriter(std::string& out) : out_(out) {}

  void Str(std::string_view s) {
    // ASCII is escaped here exactly as dump() escapes it (ensure_ascii off: '"', '\\', the
    // short escapes, other control characters as \u00xx in lower case, DEL as is); a string
    // with any byte >= 0x80 takes dump()'s own path (its UTF-8 validation and exception).
    if (std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
      out_ += json(std::string(s)).dump();
      return;
    }
    out_ += '"';
    for (char c : s) {
      switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\b': out_ += "\\b"; break;
        case '\f': out_ += "\\f"; break;
        case '\n': out_ += "\\n"; break;
        case '\r': out_ += "\\r"; break;
        case '\t': out_ += "\\t"; break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            fmt::format_to(std::back_inserter(out_), "\\u{:04x}", static_cast<unsigned>(c));
          } else {
            out_ += c;
          }
      }
    }
    out_ += '"';
  }
  void Int(std::int64_t v) { fmt::format_to(std::back_inserter(out_), "{}", v); }
  void Bool(bool v) { out_ += v ? "true" : "false"; }
  void Null() { out_ += "null"; }
  void OptTime(const std::optional<TimePoint>& t) {
    if (t) Int(ToUnixMicros(*t));
    else Null();
  }
  // `"key":`, preceded by a comma unless it is the first key of its object.
  void Key(std::string_view key, bool first = false) {
    if (!first) out_ += ',';
    out_ += '"';
    out_.append(key);
    out_ += "\":";
  }
  void Raw(std::string_view s) { out_.append(s); }

  void Res(const Resources& r) {
    Key("cpu_milli", true), Int(r.cpu_milli);
    Key("gpus"), Int(r.gpus);
    Key("memory_bytes"), Int(r.memory_bytes);
    Raw("}");
  }
  void StrArray(const std::vector<std::string>& v) {
    Raw("[");
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i) Raw(",");
      Str(v[i]);
    }
    Raw("]");
  }
  template <class Int64Like>
  void IntArray(const std::vector<Int64Like>& v) {
    Raw("[");
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i) Raw(",");
      Int(v[i]);
    }
    Raw("]");
  }

  void Spec(const JobSpec& s) {
    Raw("{");
    Key("args", true), StrArray(s.args);
    if (!s.array.empty()) {
      Key("array"), Raw("{");
      Key("max_running", true), Int(s.array.max_running);
      Key("ranges"), Raw("[");
      for (std::size_t i = 0; i < s.array.ranges.size(); ++i) {
        if (i) Raw(",");
        const ArrayRange& r = s.array.ranges[i];
        Raw("{"), Key("first", true), Int(r.first), Key("last"), Int(r.last), Key("step"), Int(r.step);
        Raw("}");
      }
      Raw("]}");
    }
    Key("cpus_per_task"), Int(s.cpus_per_task);
    if (!s.dependency.empty()) {
      Key("dependency"), Raw("{");
      Key("any", true), Bool(s.dependency.any);
      Key("terms"), Raw("[");
      for (std::size_t i = 0; i < s.dependency.terms.size(); ++i) {
        if (i) Raw(",");
        const DependencyTerm& t = s.dependency.terms[i];
        Raw("{"), Key("jobs", true), IntArray(t.jobs), Key("type"), Str(ToString(t.type)), Raw("}");
      }
      Raw("]}");
    }
    Key("env"), Raw("{");
    bool first = true;
    for (const auto& [name, value] : s.env) {
      if (!first) Raw(",");
      first = false;
      Str(name), Raw(":"), Str(value);
    }
    Raw("}");
    Key("error"), Str(s.error_pattern);
    Key("exclusive"), Bool(s.exclusive);
    Key("gpu_model"), Str(s.gpu_model);
    if (s.host_port) Key("host_port"), Int(s.host_port);
    if (s.max_pending) Key("max_pending_us"), Int(s.max_pending->count());
    Key("max_retries"), Int(s.max_retries);
    Key("name"), Str(s.name);
    Key("num_nodes"), Int(s.num_nodes);
    Key("output"), Str(s.output_pattern);
    Key("pools"), StrArray(s.pools);
    Key("preemptible"), Bool(s.preemptible);
    Key("priority"), Int(s.priority);
    Key("queue"), Str(s.queue);
    Key("requeue"), Bool(s.requeue);
    if (s.require_isolation) Key("require_isolation"), Bool(true);
    Key("resources"), Raw("{"), Res(s.per_node);
    Key("script"), Str(s.script);
    if (!s.service.empty()) {
      Key("service"), Str(s.service);
      Key("service_generation"), Int(s.service_generation);
    }
    if (s.signal) {
      Key("signal"), Raw("{");
      Key("batch_only", true), Bool(s.signal->batch_only);
      Key("before_us"), Int(s.signal->before.count());
      Key("signal"), Int(s.signal->signal);
      Raw("}");
    }
    Key("submit_dir"), Str(s.submit_dir);
    Key("tasks_per_node"), Int(s.tasks_per_node);
    Key("time_limit_us");
    if (s.time_limit) Int(s.time_limit->count());
    else Null();
    if (!s.topology.empty()) Key("topology"), Str(s.topology);
    Key("user"), Str(s.user);
    Key("work_dir"), Str(s.work_dir);
    Raw("}");
  }

  void Task(const TaskRecord& t) {
    Raw("{");
    Key("end_time", true), OptTime(t.end_time);
    Key("error_path"), Str(t.error_path);
    Key("exit");
    if (t.exit) {
      const TaskExit& e = *t.exit;
      Raw("{");
      Key("exit_code", true), Int(e.exit_code);
      Key("killed_by_agent"), Bool(e.killed_by_agent);
      if (e.node_failed) Key("node_failed"), Bool(true);
      Key("oom_killed"), Bool(e.oom_killed);
      Key("preempted"), Bool(e.preempted);
      Key("signal"), Int(e.signal);
      Key("timed_out"), Bool(e.timed_out);
      Raw("}");
    } else {
      Null();
    }
    Key("output_path"), Str(t.output_path);
    Key("phase"), Str(ToString(t.phase));
    Key("start_time"), OptTime(t.start_time);
    if (t.usage) Key("usage"), Raw(json(UsageJson(*t.usage)).dump());
    Raw("}");
  }

  void JobRecord(const Job& job) {
    Raw("{");
    Key("allocation", true), Raw("[");
    for (std::size_t i = 0; i < job.allocation.ranks.size(); ++i) {
      if (i) Raw(",");
      const NodeAllocation& a = job.allocation.ranks[i];
      Raw("{"), Key("gpu_ids", true), IntArray(a.gpu_ids), Key("node"), Str(a.node);
      Key("resources"), Raw("{"), Res(a.resources), Raw("}");
    }
    Raw("]");
    if (job.array_job_id != 0) {
      Key("array_job_id"), Int(job.array_job_id);
      Key("array_task_id"), Int(job.array_task_id);
    }
    if (!job.attempts.empty()) {
      json attempts = json::array();
      for (const AttemptRecord& a : job.attempts) attempts.push_back(AttemptJson(a));
      Key("attempts"), Raw(attempts.dump());
    }
    if (!job.backend_id.empty()) Key("backend_id"), Str(job.backend_id);
    if (!job.backend_pool.empty()) Key("backend_pool"), Str(job.backend_pool);
    Key("end_time"), OptTime(job.end_time);
    Key("exit_code"), Int(job.exit_code);
    Key("exit_signal"), Int(job.exit_signal);
    Key("expected_start"), OptTime(job.expected_start);
    Key("id"), Int(job.id);
    if (!job.idempotency_key.empty()) Key("idempotency_key"), Str(job.idempotency_key);
    Key("master_port"), Int(job.master_port);
    if (job.node_failed_at) Key("node_failed_at"), Int(ToUnixMicros(*job.node_failed_at));
    if (!job.node_failure.empty()) Key("node_failure"), Str(job.node_failure);
    if (job.preempted_at) Key("preempted_at"), Int(ToUnixMicros(*job.preempted_at));
    if (job.preempted_by != 0) Key("preempted_by"), Int(job.preempted_by);
    if (!job.preemption_reason.empty()) Key("preemption_reason"), Str(job.preemption_reason);
    Key("reason"), Str(job.reason);
    Key("restart_count"), Int(job.restart_count);
    Key("spec"), Spec(job.spec);
    Key("start_time"), OptTime(job.start_time);
    Key("state"), Str(ToString(job.state));
    Key("submit_time"), Int(ToUnixMicros(job.submit_time));
    Key("tasks"), Raw("[");
    for (std::size_t i = 0; i < job.tasks.size(); ++i) {
      if (i) Raw(",");
      Task(job.tasks[i]);
    }
    Raw("]}");
  }

 private:
  std::string& out_;
};

}  // namespace

std::string EncodeJob(const Job& job) {
  std::string out;
  out.reserve(1024 + job.spec.script.size());
  JobWriter(out).JobRecord(job);
  return out;
}

void to_json(json& j, const Node& n) {
  j = json{{"name", n.name},         {"address", n.address},
           {"pool", n.pool},         {"capacity", n.capacity},
           {"gpu_model", n.gpu_model}, {"labels", n.labels},
           {"state", ToString(n.state)}, {"last_heartbeat", ToUnixMicros(n.last_heartbeat)}};
  PutGpusAndIsolation(j, n.gpus, n.isolation);
  if (n.drain) {
    j["drain"] = true;
    j["drain_reason"] = n.drain_reason;
  }
}

void to_json(json& j, const TaskKey& k) {
  j = json{{"job_id", k.job_id}, {"rank", k.rank}, {"attempt", k.attempt}};
}

void to_json(json& j, const TaskAssignment& a) {
  j = json{{"key", a.key},
           {"script", a.script},
           {"args", a.args},
           {"env", a.env.map()},
           {"work_dir", a.work_dir},
           {"output_path", a.output_path},
           {"error_path", a.error_path},
           {"time_limit_us", a.time_limit ? json(a.time_limit->count()) : json(nullptr)},
           {"resources", a.resources},
           {"gpu_ids", a.gpu_ids}};
  if (a.warning) j["warning"] = SignalJson(*a.warning);
  if (a.stop) j["stop"] = json{{"signal", a.stop->signal}, {"grace_us", a.stop->grace.count()}};
  if (!a.user.empty()) j["user"] = a.user;
}

void to_json(json& j, const TaskReport& r) {
  j = json{{"key", r.key},
           {"phase", ToString(r.phase)},
           {"start_time", OptTime(r.start_time)},
           {"end_time", OptTime(r.end_time)},
           {"exit", r.exit ? json(*r.exit) : json(nullptr)}};
  if (r.usage) j["usage"] = UsageJson(*r.usage);
}

void to_json(json& j, const NodeReport& r) {
  j = json{{"name", r.name},           {"address", r.address}, {"capacity", r.capacity},
           {"gpu_model", r.gpu_model}, {"labels", r.labels},   {"tasks", r.tasks}};
  PutGpusAndIsolation(j, r.gpus, r.isolation);
}

void to_json(json& j, const NodeAssignments& a) {
  j = json{{"version", a.version}, {"tasks", a.tasks}};
}

void to_json(json& j, const User& u) {
  j = json{{"name", u.name},
           {"admin", u.admin},
           {"token_sha256", u.token_sha256},
           {"created", ToUnixMicros(u.created)},
           {"revoked", u.revoked}};
}

Result<User> UserFromJson(const json& j) {
  return Decode<User>("user", [&] {
    User u;
    u.name = j.at("name").get<std::string>();
    GetIf(j, "admin", u.admin);
    GetIf(j, "token_sha256", u.token_sha256);
    u.created = FromUnixMicros(Opt(j, "created", std::int64_t{0}));
    GetIf(j, "revoked", u.revoked);
    return u;
  });
}

Result<JobSpec> JobSpecFromJson(const json& j) {
  return Decode<JobSpec>("job spec", [&] { return SpecFrom(j); });
}

Result<Job> JobFromJson(const json& j) {
  return Decode<Job>("job record", [&] {
    Job job;
    job.id = Req<JobId>(j, "id");
    job.spec = SpecFrom(j.at("spec"));
    auto state = ParseJobState(j.at("state").get<std::string>());
    if (!state) throw json::other_error::create(501, "unknown state", &j);
    job.state = *state;
    GetIf(j, "reason", job.reason);
    job.submit_time = FromUnixMicros(Req<std::int64_t>(j, "submit_time"));
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
    job.node_failed_at = GetOptTime(j, "node_failed_at");
    GetIf(j, "idempotency_key", job.idempotency_key);
    GetIf(j, "node_failure", job.node_failure);
    GetIf(j, "backend_pool", job.backend_pool);
    GetIf(j, "backend_id", job.backend_id);
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
      rec.usage = GetOptUsage(t);
      job.tasks.push_back(std::move(rec));
    }
    for (const json& a : j.value("attempts", json::array())) job.attempts.push_back(AttemptFrom(a));
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
    GetGpusAndIsolation(j, n.gpus, n.isolation);
    GetIf(j, "drain", n.drain);
    GetIf(j, "drain_reason", n.drain_reason);
    n.state = j.value("state", "UP") == "UP" ? NodeState::kUp : NodeState::kDown;
    n.last_heartbeat = FromUnixMicros(Opt(j, "last_heartbeat", std::int64_t{0}));
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
    GetGpusAndIsolation(j, r.gpus, r.isolation);
    for (const json& t : j.value("tasks", json::array())) {
      TaskReport tr;
      tr.key = KeyFrom(t.at("key"));
      tr.phase = PhaseFrom(t.at("phase").get<std::string>());
      tr.start_time = GetOptTime(t, "start_time");
      tr.end_time = GetOptTime(t, "end_time");
      if (auto it = t.find("exit"); it != t.end() && !it->is_null()) tr.exit = ExitFrom(*it);
      tr.usage = GetOptUsage(t);
      r.tasks.push_back(std::move(tr));
    }
    return r;
  });
}

Result<NodeAssignments> NodeAssignmentsFromJson(const json& j) {
  return Decode<NodeAssignments>("node assignments", [&] {
    NodeAssignments out;
    out.version = Req<std::int64_t>(j, "version");
    for (const json& t : j.at("tasks")) {
      TaskAssignment a;
      a.key = KeyFrom(t.at("key"));
      GetIf(t, "script", a.script);
      GetIf(t, "args", a.args);
      TaskEnvironment::Map env;
      GetIf(t, "env", env);
      a.env = std::move(env);
      GetIf(t, "work_dir", a.work_dir);
      GetIf(t, "output_path", a.output_path);
      GetIf(t, "error_path", a.error_path);
      if (auto it = t.find("time_limit_us"); it != t.end() && !it->is_null()) {
        a.time_limit = Duration(As<std::int64_t>(*it, "time_limit_us"));
      }
      if (auto it = t.find("resources"); it != t.end()) a.resources = ResourcesFrom(*it);
      GetIf(t, "gpu_ids", a.gpu_ids);
      a.warning = GetOptSignal(t, "warning");
      if (auto it = t.find("stop"); it != t.end() && !it->is_null()) {
        StopRequest stop;
        stop.signal = Req<int>(*it, "signal");
        stop.grace = Duration(Opt(*it, "grace_us", std::int64_t{0}));
        a.stop = stop;
      }
      GetIf(t, "user", a.user);
      out.tasks.push_back(std::move(a));
    }
    return out;
  });
}

namespace {

// The deepest nesting of arrays and objects in `text` (outside strings), counted without
// parsing: nlohmann's copies, comparisons and dump() of a value recurse once per level, so a
// body of 100000 '[' must be refused before it becomes a tree.
std::size_t NestingDepth(std::string_view text) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

Result<json> ParseJson(std::string_view text) {
  if (NestingDepth(text) > kMaxJsonDepth) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("request body nests arrays and objects deeper than {} levels", kMaxJsonDepth));
  }
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(ErrorCode::kInvalidArgument, "request body is not valid JSON");
  return j;
}

}  // namespace weft::model
