#include "spec/resolve.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <set>

#include <fmt/format.h>

namespace weft::spec {
namespace {

template <class T>
void Take(std::optional<T>& into, const std::optional<T>& from) {
  if (from) into = from;
}

std::int64_t CeilDiv(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

struct Tasks {
  int num_nodes = 1;
  int tasks_per_node = 1;
};

// -N, -n and --ntasks-per-node. Without -N, -n with --ntasks-per-node sets the node count;
// with -N, -n spreads tasks evenly (rounded up) and --ntasks-per-node caps them.
Result<Tasks> ResolveTasks(const SubmitOptions& o) {
  Tasks t;
  if (o.num_nodes) {
    t.num_nodes = *o.num_nodes;
  } else if (o.ntasks && o.tasks_per_node && *o.tasks_per_node > 0) {
    t.num_nodes = static_cast<int>(CeilDiv(*o.ntasks, *o.tasks_per_node));
  }
  if (t.num_nodes < 1) return Fail(ErrorCode::kInvalidArgument, "num_nodes: must be at least 1");
  if (o.tasks_per_node) {
    t.tasks_per_node = *o.tasks_per_node;
    if (o.ntasks && *o.ntasks > static_cast<std::int64_t>(t.tasks_per_node) * t.num_nodes) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("--ntasks: {} tasks do not fit in {} per node on {} node(s)",
                              *o.ntasks, t.tasks_per_node, t.num_nodes));
    }
  } else if (o.ntasks) {
    t.tasks_per_node = static_cast<int>(CeilDiv(*o.ntasks, t.num_nodes));
  }
  if (t.tasks_per_node < 1) {
    return Fail(ErrorCode::kInvalidArgument, "tasks_per_node: must be at least 1");
  }
  return t;
}

struct Gpus {
  std::int64_t per_node = 0;
  std::string model;
};

// Per-node GPUs from whichever of per-node, total and per-task options were given; when
// several were, they must agree.
Result<Gpus> ResolveGpus(const GpuOptions& g, const Tasks& t) {
  Gpus out;
  bool known = false;
  if (g.per_node) {
    out.per_node = g.per_node->count;
    known = true;
  }
  if (g.total) {
    if (known) {
      if (g.total->count != out.per_node * t.num_nodes) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("{}={} does not match {} ({} per node on {} node(s))",
                                g.total->option, g.total->count, g.per_node->option,
                                out.per_node, t.num_nodes));
      }
    } else {
      if (g.total->count % t.num_nodes != 0) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("{}: {} GPUs do not divide evenly among {} nodes",
                                g.total->option, g.total->count, t.num_nodes));
      }
      out.per_node = g.total->count / t.num_nodes;
      known = true;
    }
  }
  if (g.per_task) {
    const std::int64_t needed = static_cast<std::int64_t>(g.per_task->count) * t.tasks_per_node;
    if (!known) {
      out.per_node = needed;
    } else if (needed > out.per_node) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}: {} GPU(s) for each of {} tasks per node is more than the {} "
                              "GPUs per node requested",
                              g.per_task->option, g.per_task->count, t.tasks_per_node,
                              out.per_node));
    }
  }
  const GpuSetting* named = nullptr;
  for (const auto* s : {&g.per_node, &g.total, &g.per_task}) {
    if (!*s || (*s)->model.empty()) continue;
    if (named != nullptr && named->model != (*s)->model) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{} asks for {} GPUs but {} asks for {}", named->option,
                              named->model, (*s)->option, (*s)->model));
    }
    named = &**s;
  }
  if (named != nullptr) out.model = named->model;
  return out;
}

struct Cpus {
  int per_task = 1;
  std::int64_t per_node = 1;
};

Result<Cpus> ResolveCpus(const std::optional<Choice<CpuKind, int>>& choice, const Tasks& t,
                         const Gpus& gpus) {
  Cpus out;
  if (!choice) {
    out.per_node = t.tasks_per_node;
    return out;
  }
  switch (choice->kind) {
    case CpuKind::kPerTask:
      out.per_task = choice->value;
      out.per_node = static_cast<std::int64_t>(choice->value) * t.tasks_per_node;
      return out;
    case CpuKind::kPerNode:
      out.per_node = choice->value;
      break;
    case CpuKind::kPerGpu:
      if (gpus.per_node == 0) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("{}: the job requests no GPUs", choice->option));
      }
      out.per_node = choice->value * gpus.per_node;
      break;
  }
  if (out.per_node % t.tasks_per_node != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: {} CPUs per node do not divide evenly among {} tasks per node",
                            choice->option, out.per_node, t.tasks_per_node));
  }
  const std::int64_t per_task = out.per_node / t.tasks_per_node;
  if (per_task > std::numeric_limits<int>::max()) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: {} CPUs per task is too many", choice->option, per_task));
  }
  out.per_task = static_cast<int>(per_task);
  return out;
}

Result<std::int64_t> ResolveMemory(const std::optional<Choice<MemoryKind, std::int64_t>>& choice,
                                   const Cpus& cpus, const Gpus& gpus) {
  if (!choice) return std::int64_t{0};
  std::int64_t units = 1;
  switch (choice->kind) {
    case MemoryKind::kPerNode:
      return choice->value;
    case MemoryKind::kPerCpu:
      units = cpus.per_node;
      break;
    case MemoryKind::kPerGpu:
      if (gpus.per_node == 0) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("{}: the job requests no GPUs", choice->option));
      }
      units = gpus.per_node;
      break;
  }
  std::int64_t bytes = 0;
  if (__builtin_mul_overflow(choice->value, units, &bytes)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: the memory per node it implies is too large", choice->option));
  }
  return bytes;
}

// `path` against `base` when relative, lexically normalised, without a trailing '/'.
std::string ResolvePath(const std::string& base, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_relative()) p = std::filesystem::path(base) / p;
  std::string out = p.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::map<std::string, std::string> ResolveEnv(const SubmitOptions& o,
                                              const SubmitContext& context) {
  const ExportRule rule = o.export_rule.value_or(ExportRule{});
  std::map<std::string, std::string> env;
  if (rule.all) env = context.env;
  for (const auto& [name, value] : rule.vars) {
    if (value) {
      env[name] = *value;
    } else if (const auto it = context.env.find(name); it != context.env.end()) {
      env[name] = it->second;
    }
  }
  for (const auto& [name, value] : o.env) env[name] = value;
  return env;
}

}  // namespace

SubmitOptions MergeLayers(const std::vector<SubmitOptions>& layers) {
  SubmitOptions out;
  for (const SubmitOptions& l : layers) {
    Take(out.name, l.name);
    Take(out.num_nodes, l.num_nodes);
    Take(out.ntasks, l.ntasks);
    Take(out.tasks_per_node, l.tasks_per_node);
    Take(out.cpus, l.cpus);
    Take(out.memory, l.memory);
    if (!l.gpus.empty()) out.gpus = l.gpus;
    Take(out.time_limit, l.time_limit);
    Take(out.priority, l.priority);
    Take(out.nice, l.nice);
    Take(out.queue, l.queue);
    Take(out.pools, l.pools);
    Take(out.exclusive, l.exclusive);
    Take(out.requeue, l.requeue);
    Take(out.preemptible, l.preemptible);
    Take(out.require_isolation, l.require_isolation);
    Take(out.max_retries, l.max_retries);
    Take(out.max_pending, l.max_pending);
    Take(out.signal, l.signal);
    Take(out.work_dir, l.work_dir);
    Take(out.output_pattern, l.output_pattern);
    Take(out.array, l.array);
    Take(out.dependency, l.dependency);
    Take(out.topology, l.topology);
    Take(out.error_pattern, l.error_pattern);
    Take(out.export_rule, l.export_rule);
    for (const auto& [name, value] : l.env) out.env[name] = value;
    Take(out.parsable, l.parsable);
    Take(out.wait, l.wait);
    out.warnings.insert(out.warnings.end(), l.warnings.begin(), l.warnings.end());
  }
  return out;
}

Result<ParsedJob> ResolveJob(const SubmitOptions& o, JobBody body, const SubmitContext& context) {
  auto tasks = ResolveTasks(o);
  if (!tasks) return tl::unexpected(tasks.error());
  auto gpus = ResolveGpus(o.gpus, *tasks);
  if (!gpus) return tl::unexpected(gpus.error());
  auto cpus = ResolveCpus(o.cpus, *tasks, *gpus);
  if (!cpus) return tl::unexpected(cpus.error());
  auto memory = ResolveMemory(o.memory, *cpus, *gpus);
  if (!memory) return tl::unexpected(memory.error());

  ParsedJob job;
  model::JobSpec& spec = job.spec;
  spec.name = o.name.value_or(body.default_name);
  spec.num_nodes = tasks->num_nodes;
  spec.tasks_per_node = tasks->tasks_per_node;
  spec.cpus_per_task = cpus->per_task;
  spec.per_node.cpu_milli = cpus->per_node * 1000;
  spec.per_node.memory_bytes = *memory;
  spec.per_node.gpus = gpus->per_node;
  spec.gpu_model = gpus->model;
  if (o.time_limit) spec.time_limit = *o.time_limit;
  // Both are bounded by 1e9 in magnitude, so the difference fits in an int.
  spec.priority = o.priority.value_or(0) - o.nice.value_or(0);
  spec.queue = o.queue.value_or("");
  spec.pools = o.pools.value_or(std::vector<std::string>{});
  spec.max_pending = o.max_pending;
  spec.exclusive = o.exclusive.value_or(false);
  spec.preemptible = o.preemptible.value_or(false);
  spec.require_isolation = o.require_isolation.value_or(false);
  // A preempted batch job is requeued unless it says --no-requeue (Slurm's default), a few
  // times unless --max-retries says how often.
  spec.requeue = o.requeue.value_or(spec.preemptible);
  spec.max_retries = o.max_retries.value_or(spec.requeue ? model::kDefaultPreemptRequeues : 0);
  spec.signal = o.signal;
  spec.script = std::move(body.script);
  spec.args = std::move(body.args);
  spec.env = ResolveEnv(o, context);
  spec.submit_dir = context.submit_dir;
  spec.work_dir = o.work_dir ? ResolvePath(context.submit_dir, *o.work_dir) : context.submit_dir;
  spec.output_pattern = o.output_pattern.value_or("");
  spec.array = o.array.value_or(model::ArraySpec{});
  spec.dependency = o.dependency.value_or(model::Dependency{});
  spec.topology = o.topology.value_or("");
  spec.error_pattern = o.error_pattern.value_or("");
  spec.user = context.user;

  job.flags.parsable = o.parsable.value_or(false);
  job.flags.wait = o.wait.value_or(false);
  std::set<std::string> seen;
  for (const std::string& w : o.warnings) {
    if (seen.insert(w).second) job.warnings.push_back(w);
  }

  if (auto valid = Validate(spec); !valid) return tl::unexpected(valid.error());
  return job;
}

}  // namespace weft::spec
