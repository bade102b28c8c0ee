// ParseServiceYaml, ValidateServiceSpec, ReplicaJobSpec: the service YAML of issue 6.

#include "spec/service_spec.h"

#include <cmath>
#include <cstdlib>
#include <set>

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include "common/strings.h"
#include "spec/job_spec_parser.h"
#include "spec/quantities.h"

namespace weft::spec {
namespace {

Error Bad(std::string message) { return {ErrorCode::kInvalidArgument, std::move(message)}; }

std::string Where(const YAML::Mark& mark) {
  return mark.is_null() ? std::string() : fmt::format("line {}: ", mark.line + 1);
}

Result<std::string> Scalar(const YAML::Node& node, std::string_view label) {
  if (!node.IsScalar()) {
    return tl::unexpected(Bad(fmt::format("{}{}: expected a single value, not a list or mapping",
                                          Where(node.Mark()), label)));
  }
  return node.Scalar();
}

// Visits the entries of a mapping, refusing duplicate keys and keys not in `known`.
template <class F>
Result<> ForEachKey(const YAML::Node& node, std::string_view label,
                    std::initializer_list<std::string_view> known, F&& visit) {
  if (!node.IsMap()) {
    return tl::unexpected(Bad(fmt::format("{}{}: expected a mapping", Where(node.Mark()), label)));
  }
  std::set<std::string> seen;
  for (const auto& entry : node) {
    auto key = Scalar(entry.first, label);
    if (!key) return tl::unexpected(key.error());
    const std::string full = label.empty() ? *key : fmt::format("{}.{}", label, *key);
    bool is_known = false;
    for (std::string_view k : known) is_known = is_known || k == *key;
    if (!is_known) {
      return tl::unexpected(Bad(fmt::format("{}unknown key '{}' in {} (known: {})",
                                            Where(entry.first.Mark()), *key,
                                            label.empty() ? "service spec" : label,
                                            fmt::join(known, ", "))));
    }
    if (!seen.insert(*key).second) {
      return tl::unexpected(Bad(fmt::format("{}duplicate key '{}'", Where(entry.first.Mark()), full)));
    }
    if (entry.second.IsNull()) continue;
    if (Result<> r = visit(*key, full, entry.second); !r) {
      // Prefix the line unless the message already has one.
      if (StartsWith(r.error().message, "line ")) return r;
      return tl::unexpected(Bad(Where(entry.second.Mark()) + r.error().message));
    }
  }
  return {};
}

Result<int> Count(const YAML::Node& node, std::string_view label) {
  auto text = Scalar(node, label);
  if (!text) return tl::unexpected(text.error());
  return ParseCount(label, *text);
}

Result<double> Number(const YAML::Node& node, std::string_view label) {
  auto text = Scalar(node, label);
  if (!text) return tl::unexpected(text.error());
  char* end = nullptr;
  const double v = std::strtod(text->c_str(), &end);
  if (text->empty() || end != text->c_str() + text->size() || !std::isfinite(v) || v < 0) {
    return tl::unexpected(Bad(fmt::format("{}: '{}' is not a non-negative number", label, *text)));
  }
  return v;
}

Result<Duration> DurationField(const YAML::Node& node, std::string_view label) {
  auto text = Scalar(node, label);
  if (!text) return tl::unexpected(text.error());
  return ParseServiceDuration(label, *text);
}

Result<> ApplyReplicas(const YAML::Node& node, model::ServiceSpec& spec) {
  if (node.IsScalar()) {  // `replicas: 3` = a fixed count
    auto n = Count(node, "replicas");
    if (!n) return tl::unexpected(n.error());
    spec.min_replicas = spec.max_replicas = *n;
    return {};
  }
  bool max_given = false;
  auto r = ForEachKey(node, "replicas", {"min", "max"},
                      [&](const std::string& key, const std::string& full, const YAML::Node& v) -> Result<> {
                        auto n = Count(v, full);
                        if (!n) return tl::unexpected(n.error());
                        (key == "min" ? spec.min_replicas : spec.max_replicas) = *n;
                        max_given = max_given || key == "max";
                        return {};
                      });
  if (!r) return r;
  if (!max_given) spec.max_replicas = std::max(1, spec.min_replicas);
  return {};
}

Result<> ApplyResources(const YAML::Node& node, model::ServiceSpec& spec) {
  return ForEachKey(node, "resources", {"gpus", "cpus", "memory"},
                    [&](const std::string& key, const std::string& full, const YAML::Node& v) -> Result<> {
                      auto text = Scalar(v, full);
                      if (!text) return tl::unexpected(text.error());
                      if (key == "gpus") {
                        auto gpus = ParseGpuRequest(full, *text);
                        if (!gpus) return tl::unexpected(gpus.error());
                        spec.per_replica.gpus = gpus->count;
                        spec.gpu_model = gpus->model;
                      } else if (key == "cpus") {
                        auto cpus = Number(v, full);
                        if (!cpus) return tl::unexpected(cpus.error());
                        if (*cpus > kMaxCount) return tl::unexpected(Bad(full + ": too large"));
                        spec.per_replica.cpu_milli = static_cast<std::int64_t>(std::llround(*cpus * 1000));
                      } else {
                        auto bytes = ParseMemory(*text);
                        if (!bytes) return tl::unexpected(Bad(fmt::format("{}: {}", full, bytes.error().message)));
                        spec.per_replica.memory_bytes = *bytes;
                      }
                      return {};
                    });
}

Result<> ApplyReadiness(const YAML::Node& node, model::ReadinessProbe& probe) {
  return ForEachKey(node, "readiness", {"path", "initial_delay", "period", "timeout", "failure_threshold"},
                    [&](const std::string& key, const std::string& full, const YAML::Node& v) -> Result<> {
                      if (key == "path") {
                        auto text = Scalar(v, full);
                        if (!text) return tl::unexpected(text.error());
                        probe.path = *text;
                        return {};
                      }
                      if (key == "failure_threshold") {
                        auto n = Count(v, full);
                        if (!n) return tl::unexpected(n.error());
                        probe.failure_threshold = *n;
                        return {};
                      }
                      auto d = DurationField(v, full);
                      if (!d) return tl::unexpected(d.error());
                      (key == "initial_delay" ? probe.initial_delay
                       : key == "period"      ? probe.period
                                              : probe.timeout) = *d;
                      return {};
                    });
}

Result<> ApplyAutoscale(const YAML::Node& node, model::AutoscaleSpec& as) {
  return ForEachKey(node, "autoscale",
                    {"target_qps_per_replica", "max_concurrent_per_replica", "upscale_delay",
                     "downscale_delay", "cold_start_timeout"},
                    [&](const std::string& key, const std::string& full, const YAML::Node& v) -> Result<> {
                      if (key == "target_qps_per_replica") {
                        auto q = Number(v, full);
                        if (!q) return tl::unexpected(q.error());
                        as.target_qps_per_replica = *q;
                        return {};
                      }
                      if (key == "max_concurrent_per_replica") {
                        auto n = Count(v, full);
                        if (!n) return tl::unexpected(n.error());
                        as.max_concurrent_per_replica = *n;
                        return {};
                      }
                      auto d = DurationField(v, full);
                      if (!d) return tl::unexpected(d.error());
                      (key == "upscale_delay"     ? as.upscale_delay
                       : key == "downscale_delay" ? as.downscale_delay
                                                  : as.cold_start_timeout) = *d;
                      return {};
                    });
}

Result<> ApplyEnv(const YAML::Node& node, model::ServiceSpec& spec) {
  if (!node.IsMap()) return tl::unexpected(Bad("env: expected a mapping such as {MODEL: llama}"));
  for (const auto& entry : node) {
    auto name = Scalar(entry.first, "env");
    if (!name) return tl::unexpected(name.error());
    if (!IsVariableName(*name)) return tl::unexpected(Bad(fmt::format("env: '{}' is not a variable name", *name)));
    std::string value;
    if (!entry.second.IsNull()) {
      auto text = Scalar(entry.second, "env." + *name);
      if (!text) return tl::unexpected(text.error());
      value = *text;
    }
    spec.env[*name] = value;
  }
  return {};
}

Result<model::ServiceSpec> ReadSpec(const YAML::Node& root, const std::string& submit_dir) {
  if (!root.IsMap()) {
    return tl::unexpected(Bad("the service spec must be a mapping with keys such as name, replicas and run"));
  }
  model::ServiceSpec spec;
  spec.submit_dir = submit_dir;
  auto r = ForEachKey(
      root, "",
      {"name", "replicas", "resources", "queue", "port", "readiness", "autoscale", "load_balancing",
       "run", "setup", "env", "preemptible"},
      [&](const std::string& key, const std::string& full, const YAML::Node& v) -> Result<> {
        if (key == "replicas") return ApplyReplicas(v, spec);
        if (key == "resources") return ApplyResources(v, spec);
        if (key == "readiness") return ApplyReadiness(v, spec.readiness);
        if (key == "autoscale") return ApplyAutoscale(v, spec.autoscale);
        if (key == "env") return ApplyEnv(v, spec);
        auto text = Scalar(v, full);
        if (!text) return tl::unexpected(text.error());
        if (key == "port") {
          auto port = ParseCount("port", *text);
          if (!port) return tl::unexpected(port.error());
          spec.port = *port;
        } else if (key == "preemptible") {
          auto b = ParseBool("preemptible", *text);
          if (!b) return tl::unexpected(b.error());
          spec.preemptible = *b;
        } else {
          (key == "name"             ? spec.name
           : key == "queue"          ? spec.queue
           : key == "load_balancing" ? spec.load_balancing
           : key == "run"            ? spec.run
                                     : spec.setup) = *text;
        }
        return {};
      });
  if (!r) return tl::unexpected(r.error());
  if (auto valid = ValidateServiceSpec(spec); !valid) return tl::unexpected(valid.error());
  return spec;
}

std::string Chomp(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

Result<Duration> ParseServiceDuration(std::string_view label, std::string_view text) {
  const std::string t(Trim(text));
  char* end = nullptr;
  const double value = std::strtod(t.c_str(), &end);
  const std::string_view unit(end, t.c_str() + t.size() - end);
  double scale = 0;  // microseconds per unit
  if (unit.empty() || unit == "s") scale = 1e6;
  else if (unit == "ms") scale = 1e3;
  else if (unit == "m") scale = 60e6;
  else if (unit == "h") scale = 3600e6;
  if (t.empty() || end == t.c_str() || scale == 0 || !std::isfinite(value) || value < 0 ||
      value * scale > 1e15) {
    return tl::unexpected(Bad(fmt::format("{}: '{}' is not a duration (examples: 200ms, 5s, 2m, 1h)", label, text)));
  }
  return Duration(static_cast<std::int64_t>(std::llround(value * scale)));
}

Result<model::ServiceSpec> ParseServiceYaml(std::string_view yaml_text, const std::string& submit_dir) {
  try {
    return ReadSpec(YAML::Load(std::string(yaml_text)), submit_dir);
  } catch (const YAML::Exception& e) {
    return tl::unexpected(Bad(fmt::format("{}not valid YAML: {}", Where(e.mark), e.msg)));
  }
}

Result<> ValidateServiceSpec(const model::ServiceSpec& s) {
  const auto bad = [](std::string m) -> Result<> { return tl::unexpected(Bad(std::move(m))); };
  if (s.name.empty()) return bad("name: is required");
  if (s.name.size() > 50) return bad("name: must be at most 50 characters");
  for (char c : s.name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return bad(fmt::format("name: '{}' may contain only lower-case letters, digits and '-'", s.name));
    }
  }
  if (s.name.front() == '-') return bad("name: must start with a letter or digit");
  if (s.min_replicas < 0) return bad("replicas.min: must not be negative");
  if (s.max_replicas < 1) return bad("replicas.max: must be at least 1");
  if (s.max_replicas > 1000) return bad("replicas.max: must be at most 1000");
  if (s.min_replicas > s.max_replicas) {
    return bad(fmt::format("replicas.min: {} is more than replicas.max {}", s.min_replicas, s.max_replicas));
  }
  if (s.port < 0 || s.port > 65535) return bad(fmt::format("port: {} is not a port (1..65535, or 0 for auto)", s.port));
  if (s.readiness.path.empty() || s.readiness.path.front() != '/') {
    return bad("readiness.path: must start with '/'");
  }
  for (char c : s.readiness.path) {
    if (c <= ' ' || c == 0x7f) return bad("readiness.path: must not contain spaces or control characters");
  }
  if (s.readiness.period.count() <= 0) return bad("readiness.period: must be positive");
  if (s.readiness.timeout.count() <= 0) return bad("readiness.timeout: must be positive");
  if (s.readiness.initial_delay.count() < 0) return bad("readiness.initial_delay: must not be negative");
  if (s.readiness.failure_threshold < 1) return bad("readiness.failure_threshold: must be at least 1");
  const model::AutoscaleSpec& a = s.autoscale;
  if (!(a.target_qps_per_replica >= 0) || !std::isfinite(a.target_qps_per_replica)) {
    return bad("autoscale.target_qps_per_replica: must be a non-negative number");
  }
  if (a.max_concurrent_per_replica < 0) return bad("autoscale.max_concurrent_per_replica: must not be negative");
  if (a.upscale_delay.count() < 0) return bad("autoscale.upscale_delay: must not be negative");
  if (a.downscale_delay.count() < 0) return bad("autoscale.downscale_delay: must not be negative");
  if (a.cold_start_timeout.count() < 0) return bad("autoscale.cold_start_timeout: must not be negative");
  if (s.min_replicas == 0 && a.target_qps_per_replica <= 0 && a.max_concurrent_per_replica <= 0) {
    return bad("replicas.min: 0 needs autoscale.target_qps_per_replica (or max_concurrent_per_replica) to scale up");
  }
  if (s.load_balancing != "round_robin" && s.load_balancing != "least_outstanding" &&
      s.load_balancing != "power_of_two") {
    return bad(fmt::format("load_balancing: '{}' is not one of round_robin, least_outstanding, power_of_two",
                           s.load_balancing));
  }
  if (Trim(s.run).empty()) return bad("run: is required (the command that starts one replica's server)");
  if (s.submit_dir.empty() || s.submit_dir.front() != '/') return bad("submit_dir: must be an absolute path");
  if (s.per_replica.cpu_milli < 0 || s.per_replica.memory_bytes < 0 || s.per_replica.gpus < 0) {
    return bad("resources: must not be negative");
  }
  for (const auto& [name, value] : s.env) {
    if (!IsVariableName(name)) return bad(fmt::format("env: '{}' is not a variable name", name));
  }
  return {};
}

model::JobSpec ReplicaJobSpec(const model::ServiceSpec& s, int generation, int replica) {
  model::JobSpec job;
  job.name = s.name;
  job.num_nodes = 1;
  job.per_node = s.per_replica;
  if (job.per_node.cpu_milli == 0) job.per_node.cpu_milli = 1000;  // a job asks for a CPU at least
  job.cpus_per_task = std::max<int>(1, static_cast<int>((job.per_node.cpu_milli + 999) / 1000));
  job.gpu_model = s.gpu_model;
  job.queue = s.queue;
  job.preemptible = s.preemptible;
  job.requeue = false;  // the service manager replaces a replica that ends, whatever the cause
  job.max_retries = 0;
  // Setup in a subshell under `set -e`, like a YAML job's; a failed setup ends the replica.
  std::string script = "#!/bin/bash\n";
  if (!Trim(s.setup).empty()) {
    script += "(\nset -e\n" + Chomp(s.setup) + "\n) || exit $?\n";
  }
  script += Chomp(s.run) + "\n";
  job.script = std::move(script);
  job.env = s.env;
  job.env["WEFT_REPLICA"] = std::to_string(replica);
  if (s.port > 0) {
    job.env["WEFT_PORT"] = std::to_string(s.port);
    job.host_port = s.port;  // two replicas never share a node (and its port)
  }
  job.submit_dir = s.submit_dir;
  job.work_dir = s.submit_dir;
  job.user = s.user;
  job.service = s.name;
  job.service_generation = generation;
  return job;
}

}  // namespace weft::spec
