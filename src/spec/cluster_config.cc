#include "spec/cluster_config.h"

#include <set>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "spec/job_spec_parser.h"
#include "spec/quantities.h"

namespace weft::spec {
namespace {

using model::ClusterConfig;
using model::QueueConfig;
using model::ResourceLimits;

tl::unexpected<Error> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

Result<std::string> Scalar(const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) return Invalid(fmt::format("{}: expected a single value", key));
  return node.Scalar();
}

// {gpus: 16, cpus: 256, memory: 2T}
Result<ResourceLimits> ParseLimits(const YAML::Node& node, const std::string& key) {
  if (!node.IsMap()) return Invalid(fmt::format("{}: expected a mapping such as {{gpus: 8, cpus: 64, memory: 512G}}", key));
  ResourceLimits limits;
  for (const auto& entry : node) {
    const std::string name = entry.first.as<std::string>();
    const std::string field = key + "." + name;
    auto text = Scalar(entry.second, field);
    if (!text) return tl::unexpected(text.error());
    if (name == "gpus" || name == "cpus") {
      auto n = ParseCount(field, *text);
      if (!n) return tl::unexpected(n.error());
      if (name == "gpus") {
        limits.gpus = *n;
      } else {
        limits.cpu_milli = static_cast<std::int64_t>(*n) * 1000;
      }
    } else if (name == "memory") {
      auto bytes = ParseMemory(*text);
      if (!bytes) return Invalid(fmt::format("{}: '{}' is not a size (examples: 512G, 2T)", field, *text));
      limits.memory_bytes = *bytes;
    } else {
      return Invalid(fmt::format("{}: unknown resource (use gpus, cpus, memory)", field));
    }
  }
  return limits;
}

Result<double> ParseWeight(const std::string& text, const std::string& key) {
  try {
    std::size_t used = 0;
    const double w = std::stod(text, &used);
    if (used != text.size() || !(w > 0) || w > 1e6) throw std::invalid_argument(text);
    return w;
  } catch (const std::exception&) {
    return Invalid(fmt::format("{}: '{}' is not a positive number", key, text));
  }
}

Result<QueueConfig> ParseQueue(const YAML::Node& node, const std::string& key) {
  if (!node.IsMap()) return Invalid(fmt::format("{}: expected a mapping with at least a name", key));
  QueueConfig q;
  for (const auto& entry : node) {
    const std::string name = entry.first.as<std::string>();
    const std::string field = key + "." + name;
    if (name == "quota" || name == "borrow_limit") {
      auto limits = ParseLimits(entry.second, field);
      if (!limits) return tl::unexpected(limits.error());
      (name == "quota" ? q.quota : q.borrow_limit) = *limits;
      continue;
    }
    auto text = Scalar(entry.second, field);
    if (!text) return tl::unexpected(text.error());
    if (name == "name") {
      q.name = *text;
    } else if (name == "weight") {
      auto w = ParseWeight(*text, field);
      if (!w) return tl::unexpected(w.error());
      q.weight = *w;
    } else if (name == "cohort") {
      q.cohort = *text;
    } else if (name == "default_time") {
      auto t = ParseTimeLimit(*text);
      if (!t) return Invalid(fmt::format("{}: '{}' is not a time (examples: 4h, 30m, 1-12:00:00)", field, *text));
      q.default_time = *t;
    } else {
      return Invalid(fmt::format("{}: unknown key (use name, quota, weight, cohort, borrow_limit, default_time)", field));
    }
  }
  if (q.name.empty()) return Invalid(fmt::format("{}.name: every queue needs a name", key));
  return q;
}

// scheduler.priority_weights: {fair_share: N, age: N, short_job: N, max_age: 7d,
// short_horizon: 7d}; weights may be 0 (the factor is off).
Result<model::PriorityWeights> ParsePriorityWeights(const YAML::Node& node, const std::string& key) {
  model::PriorityWeights w;
  if (!node.IsMap()) return Invalid(fmt::format("{}: expected a mapping such as {{age: 1000, short_job: 1000}}", key));
  for (const auto& entry : node) {
    const std::string name = entry.first.as<std::string>();
    const std::string field = key + "." + name;
    auto text = Scalar(entry.second, field);
    if (!text) return tl::unexpected(text.error());
    if (name == "max_age" || name == "short_horizon") {
      auto t = ParseTimeLimit(*text);
      if (!t || !*t) return Invalid(fmt::format("{}: '{}' is not a positive time (examples: 7d, 12h)", field, *text));
      (name == "max_age" ? w.max_age : w.short_horizon) = **t;
      continue;
    }
    double* target = name == "fair_share" ? &w.fair_share
                     : name == "age"      ? &w.age
                     : name == "short_job" ? &w.short_job
                                           : nullptr;
    if (!target) {
      return Invalid(fmt::format("{}: unknown key (use fair_share, age, short_job, max_age, short_horizon)", field));
    }
    if (*text == "0") {
      *target = 0;
      continue;
    }
    auto value = ParseWeight(*text, field);
    if (!value) return Invalid(fmt::format("{}: '{}' is not a number from 0 to 1000000", field, *text));
    *target = *value;
  }
  return w;
}

Result<model::SchedulerConfig> ParseScheduler(const YAML::Node& node) {
  model::SchedulerConfig s;
  if (!node.IsMap()) return Invalid("scheduler: expected a mapping");
  for (const auto& entry : node) {
    const std::string name = entry.first.as<std::string>();
    const std::string field = "scheduler." + name;
    if (name == "priority_weights") {
      auto weights = ParsePriorityWeights(entry.second, field);
      if (!weights) return tl::unexpected(weights.error());
      s.priority = *weights;
      continue;
    }
    auto text = Scalar(entry.second, field);
    if (!text) return tl::unexpected(text.error());
    if (name == "backfill") {
      if (*text == "none") {
        s.backfill = model::BackfillMode::kNone;
      } else if (*text == "easy") {
        s.backfill = model::BackfillMode::kEasy;
      } else if (*text == "conservative") {
        s.backfill = model::BackfillMode::kConservative;
      } else {
        return Invalid(fmt::format("{}: '{}' is not one of none, easy, conservative", field, *text));
      }
    } else if (name == "fair_share_half_life" || name == "preemption_grace") {
      auto t = ParseTimeLimit(*text);
      if (!t || !*t) return Invalid(fmt::format("{}: '{}' is not a positive time (examples: 7d, 30s)", field, *text));
      (name == "preemption_grace" ? s.preemption_grace : s.fair_share_half_life) = **t;
    } else {
      return Invalid(fmt::format("{}: unknown key (use backfill, fair_share_half_life, preemption_grace, priority_weights)", field));
    }
  }
  return s;
}

// pools[i]: {name: hpc, backend: slurm, burst: false, slurm: {partition: gpu, ...}}. The
// slurm block's keys and values are checked by backend::MakeSlurmPoolConfig at server start.
Result<model::PoolConfig> ParsePool(const YAML::Node& node, const std::string& key) {
  if (!node.IsMap()) return Invalid(fmt::format("{}: expected a mapping such as {{name: hpc, backend: slurm}}", key));
  model::PoolConfig pool;
  bool has_slurm = false;
  for (const auto& entry : node) {
    const std::string name = entry.first.as<std::string>();
    const std::string field = key + "." + name;
    if (name == "slurm") {
      if (!entry.second.IsMap()) return Invalid(fmt::format("{}: expected a mapping such as {{partition: gpu}}", field));
      for (const auto& item : entry.second) {
        const std::string sub = item.first.as<std::string>();
        auto text = Scalar(item.second, field + "." + sub);
        if (!text) return tl::unexpected(text.error());
        pool.slurm[sub] = *text;
      }
      has_slurm = true;
      continue;
    }
    auto text = Scalar(entry.second, field);
    if (!text) return tl::unexpected(text.error());
    if (name == "name") {
      pool.name = *text;
    } else if (name == "backend") {
      if (*text != "agents" && *text != "slurm") {
        return Invalid(fmt::format("{}: '{}' is not one of agents, slurm", field, *text));
      }
      pool.backend = *text;
    } else if (name == "burst") {
      if (*text != "true" && *text != "false") return Invalid(fmt::format("{}: '{}' is not true or false", field, *text));
      pool.burst = *text == "true";
    } else {
      return Invalid(fmt::format("{}: unknown key (use name, backend, burst, slurm)", field));
    }
  }
  if (pool.name.empty()) return Invalid(fmt::format("{}.name: a pool needs a name", key));
  if (has_slurm && pool.backend != "slurm") {
    return Invalid(fmt::format("{}.slurm: only a pool with backend: slurm takes a slurm block", key));
  }
  if (pool.burst && pool.backend != "agents") {
    return Invalid(fmt::format("{}.burst: only an agents pool bursts into a slurm pool", key));
  }
  return pool;
}

}  // namespace

Result<ClusterConfig> ParseClusterConfig(std::string_view yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return Invalid(fmt::format("line {}: {}", e.mark.line + 1, e.msg));
  }
  ClusterConfig config;
  if (root.IsNull()) {
    config.queues.push_back(model::DefaultQueue());
    return config;
  }
  if (!root.IsMap()) return Invalid("the configuration must be a mapping with queues, scheduler and pools keys");
  try {
    for (const auto& entry : root) {
      const std::string key = entry.first.as<std::string>();
      if (key == "queues") {
        if (!entry.second.IsSequence()) return Invalid("queues: expected a list of queues");
        std::set<std::string> names;
        for (std::size_t i = 0; i < entry.second.size(); ++i) {
          auto q = ParseQueue(entry.second[i], fmt::format("queues[{}]", i));
          if (!q) return tl::unexpected(q.error());
          if (!names.insert(q->name).second) {
            return Invalid(fmt::format("queues[{}].name: '{}' is defined twice", i, q->name));
          }
          config.queues.push_back(std::move(*q));
        }
      } else if (key == "scheduler") {
        auto s = ParseScheduler(entry.second);
        if (!s) return tl::unexpected(s.error());
        config.scheduler = *s;
      } else if (key == "pools") {
        if (!entry.second.IsSequence()) return Invalid("pools: expected a list of pools");
        for (std::size_t i = 0; i < entry.second.size(); ++i) {
          auto pool = ParsePool(entry.second[i], fmt::format("pools[{}]", i));
          if (!pool) return tl::unexpected(pool.error());
          if (config.FindPool(pool->name)) {
            return Invalid(fmt::format("pools[{}].name: '{}' is defined twice", i, pool->name));
          }
          config.pools.push_back(std::move(*pool));
        }
      } else {
        return Invalid(fmt::format("{}: unknown key (use queues, scheduler, pools)", key));
      }
    }
  } catch (const YAML::Exception& e) {
    return Invalid(fmt::format("line {}: {}", e.mark.line + 1, e.msg));
  }
  if (config.queues.empty()) config.queues.push_back(model::DefaultQueue());
  return config;
}

}  // namespace weft::spec
