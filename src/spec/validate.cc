// Validate: the checks every JobSpec passes, whatever its source (the REST API included).

#include <cstdint>
#include <utility>

#include <fmt/format.h>

#include "common/strings.h"
#include "spec/job_spec_parser.h"
#include "spec/quantities.h"

namespace weft::spec {
namespace {

Result<> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

Result<> CheckAbsolute(std::string_view field, const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return Invalid(fmt::format("{}: '{}' is not an absolute path", field, path));
  }
  return {};
}

// Upper bounds on what one job may ask for. They are far above any real machine, and low
// enough that no sum the scheduler or the accounting forms for one job (num_nodes × per-node
// amounts, submit time + time limit) can overflow 64 bits: absurd requests such as 1e18 GPUs
// get a clear error instead of wrapping around.
constexpr int kMaxNumNodes = 100'000;
constexpr int kMaxTasksPerNode = 65'536;
constexpr int kMaxCpusPerTask = 65'536;
constexpr std::int64_t kMaxCpuMilliPerNode = 65'536LL * 1000;  // 65,536 CPUs
constexpr std::int64_t kMaxMemoryPerNode = 64LL << 40;          // 64 TiB
constexpr std::int64_t kMaxGpusPerNode = 4096;
constexpr int kMaxRetries = 10'000;
constexpr Duration kMaxTimeLimit = std::chrono::hours(24 * 366 * 100);  // a century

Result<> CheckRange(std::string_view field, long long value, long long min, long long max) {
  if (value < min || value > max) {
    return Invalid(fmt::format("{}: {} is out of range ({} to {})", field, value, min, max));
  }
  return {};
}

// Every string a spec carries ends up in JSON (the API, the store), and nlohmann's dump()
// throws on invalid UTF-8: refuse it here, naming the field, rather than fail later.
Result<> CheckUtf8(std::string_view field, std::string_view text) {
  if (!IsValidUtf8(text)) return Invalid(fmt::format("{}: is not valid UTF-8", field));
  return {};
}

Result<> CheckStringsAreUtf8(const model::JobSpec& spec) {
  const std::pair<std::string_view, const std::string*> fields[] = {
      {"name", &spec.name},         {"gpu_model", &spec.gpu_model},
      {"queue", &spec.queue},       {"script", &spec.script},
      {"submit_dir", &spec.submit_dir}, {"work_dir", &spec.work_dir},
      {"output", &spec.output_pattern}, {"error", &spec.error_pattern},
      {"user", &spec.user},         {"topology", &spec.topology}};
  for (const auto& [field, text] : fields) {
    if (auto r = CheckUtf8(field, *text); !r) return r;
  }
  for (const std::string& pool : spec.pools) {
    if (auto r = CheckUtf8("pools", pool); !r) return r;
  }
  for (const std::string& arg : spec.args) {
    if (auto r = CheckUtf8("args", arg); !r) return r;
  }
  for (const auto& [name, value] : spec.env) {
    if (!IsValidUtf8(name) || !IsValidUtf8(value)) {
      return Invalid("env: a variable's name or value is not valid UTF-8");
    }
  }
  return {};
}

Result<> CheckArray(const model::ArraySpec& array) {
  long long total = 0;
  for (const model::ArrayRange& r : array.ranges) {
    if (r.first < 0 || r.last < r.first || r.last > kMaxArrayIndex || r.step < 1) {
      return Invalid(fmt::format("array: '{}-{}:{}' is not a valid index range", r.first, r.last,
                                 r.step));
    }
    total += (r.last - r.first) / r.step + 1;
  }
  if (total > kMaxArrayTasks) {
    return Invalid(fmt::format("array: asks for more than {} tasks", kMaxArrayTasks));
  }
  if (array.max_running < 0) return Invalid("array: max_running must not be negative");
  return {};
}

Result<> CheckDependency(const model::Dependency& dependency) {
  for (const model::DependencyTerm& term : dependency.terms) {
    const bool singleton = term.type == model::DependencyType::kSingleton;
    if (singleton != term.jobs.empty()) {
      return Invalid(fmt::format("dependency: '{}' must name {}", model::ToString(term.type),
                                 singleton ? "no job" : "at least one job"));
    }
    for (model::JobId id : term.jobs) {
      if (id < 1) return Invalid(fmt::format("dependency: '{}' is not a job id", id));
    }
  }
  return {};
}

}  // namespace

Result<> Validate(const model::JobSpec& spec) {
  if (spec.num_nodes < 1) return Invalid("num_nodes: must be at least 1");
  if (spec.tasks_per_node < 1) return Invalid("tasks_per_node: must be at least 1");
  if (spec.cpus_per_task < 1) return Invalid("cpus_per_task: must be at least 1");
  if (spec.per_node.cpu_milli < 0) return Invalid("cpu_milli: must not be negative");
  if (spec.per_node.memory_bytes < 0) return Invalid("memory: must not be negative");
  if (spec.per_node.gpus < 0) return Invalid("gpus: must not be negative");
  if (auto r = CheckRange("num_nodes", spec.num_nodes, 1, kMaxNumNodes); !r) return r;
  if (auto r = CheckRange("tasks_per_node", spec.tasks_per_node, 1, kMaxTasksPerNode); !r) return r;
  if (auto r = CheckRange("cpus_per_task", spec.cpus_per_task, 1, kMaxCpusPerTask); !r) return r;
  if (auto r = CheckRange("cpu_milli", spec.per_node.cpu_milli, 0, kMaxCpuMilliPerNode); !r) return r;
  if (auto r = CheckRange("memory", spec.per_node.memory_bytes, 0, kMaxMemoryPerNode); !r) return r;
  if (auto r = CheckRange("gpus", spec.per_node.gpus, 0, kMaxGpusPerNode); !r) return r;
  if (spec.time_limit && spec.time_limit->count() <= 0) {
    return Invalid("time_limit: must be positive when set");
  }
  if (spec.time_limit && *spec.time_limit > kMaxTimeLimit) {
    return Invalid("time_limit: must be at most 100 years (leave it unset for no limit)");
  }
  if (spec.max_retries < 0) return Invalid("max_retries: must not be negative");
  if (auto r = CheckRange("max_retries", spec.max_retries, 0, kMaxRetries); !r) return r;
  if (spec.signal && (spec.signal->signal < 1 || spec.signal->signal > 64)) {
    return Invalid(fmt::format("signal: {} is not a signal number (1..64)", spec.signal->signal));
  }
  if (spec.signal && spec.signal->before.count() < 0) {
    return Invalid("signal: the warning time must not be negative");
  }
  if (spec.signal && spec.signal->before > kMaxTimeLimit) {
    return Invalid("signal: the warning time must be at most 100 years");
  }
  if (auto r = CheckStringsAreUtf8(spec); !r) return r;
  if (spec.script.empty()) return Invalid("script: is empty");
  if (!StartsWith(spec.script, "#!")) {
    return Invalid("script: must start with '#!' followed by an interpreter");
  }
  for (const std::string& pool : spec.pools) {
    if (pool.empty()) return Invalid("pools: a pool name is empty");
  }
  for (const auto& [name, value] : spec.env) {
    if (name.empty() || name.find_first_of("=") != std::string::npos ||
        name.find('\0') != std::string::npos) {
      return Invalid(fmt::format("env: '{}' is not a variable name", name));
    }
  }
  if (auto r = CheckAbsolute("submit_dir", spec.submit_dir); !r) return r;
  if (auto r = CheckAbsolute("work_dir", spec.work_dir); !r) return r;
  if (auto r = CheckArray(spec.array); !r) return r;
  if (auto r = CheckDependency(spec.dependency); !r) return r;
  if (!spec.topology.empty() && spec.topology != "switch" && spec.topology != "rack" &&
      spec.topology != "zone") {
    return Invalid(
        fmt::format("topology: '{}' is not one of switch, rack, zone", spec.topology));
  }
  return {};
}

Result<> ValidateNodeReport(const model::NodeReport& report) {
  if (report.name.empty()) return Invalid("name: is empty");
  if (auto r = CheckUtf8("name", report.name); !r) return r;
  if (auto r = CheckRange("capacity.cpu_milli", report.capacity.cpu_milli, 0, kMaxCpuMilliPerNode); !r) return r;
  if (auto r = CheckRange("capacity.memory_bytes", report.capacity.memory_bytes, 0, kMaxMemoryPerNode); !r) return r;
  if (auto r = CheckRange("capacity.gpus", report.capacity.gpus, 0, kMaxGpusPerNode); !r) return r;
  if (report.gpus.size() > static_cast<std::size_t>(kMaxGpusPerNode)) {
    return Invalid(fmt::format("gpus: lists more than {} devices", kMaxGpusPerNode));
  }
  return {};
}

}  // namespace weft::spec
