// Validate: the checks every JobSpec passes, whatever its source (the REST API included).

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
  if (spec.time_limit && spec.time_limit->count() <= 0) {
    return Invalid("time_limit: must be positive when set");
  }
  if (spec.max_retries < 0) return Invalid("max_retries: must not be negative");
  if (spec.signal && (spec.signal->signal < 1 || spec.signal->signal > 64)) {
    return Invalid(fmt::format("signal: {} is not a signal number (1..64)", spec.signal->signal));
  }
  if (spec.signal && spec.signal->before.count() < 0) {
    return Invalid("signal: the warning time must not be negative");
  }
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

}  // namespace weft::spec
