#include "sched/scheduler.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "sched/gang_placer.h"

namespace weft::sched {

Profile DefaultProfile() {
  Profile p;
  p.queue_order = std::make_unique<PriorityOrder>();
  p.filters.push_back(std::make_unique<NodeAvailableFilter>());
  p.filters.push_back(std::make_unique<ResourceFitFilter>());
  p.scorers.push_back(std::make_unique<BestFitScore>());
  return p;
}

Scheduler::Scheduler(Profile profile) : profile_(std::move(profile)) {}

namespace {

// Jobs with the same shape fit or fail together within a cycle: free resources only shrink
// as the cycle goes on, so a shape that failed once fails for every later job.
using Shape = std::tuple<int, std::int64_t, std::int64_t, std::int64_t, std::string, bool,
                         std::vector<std::string>>;
Shape ShapeOf(const PendingJob& job) {
  return {job.num_nodes, job.per_node.cpu_milli, job.per_node.memory_bytes, job.per_node.gpus,
          job.gpu_model, job.exclusive,          job.pools};
}

}  // namespace

CycleResult Scheduler::RunCycle(const ClusterSnapshot& cluster,
                                std::span<const PendingJob> pending, TimePoint now) const {
  // 1. Order the queue.
  const std::vector<const PendingJob*> order = profile_.queue_order->Order(pending, now);
  // 2. Place each job on the cycle's working copy; starting a job takes its resources there.
  ClusterSnapshot working = cluster;
  const GangPlacer placer(profile_.filters, profile_.scorers);
  std::set<Shape> failed_shapes;
  // No job asks for less than its CPUs: once no node has that many free, it cannot fit
  // anywhere, without looking at a node (the common case in a long, busy queue).
  auto max_free_cpu = [](const ClusterSnapshot& c) {
    std::int64_t best = 0;
    for (const NodeView& n : c.nodes) {
      if (n.schedulable) best = std::max(best, n.free.cpu_milli);
    }
    return best;
  };
  const std::int64_t initial_free_cpu = max_free_cpu(cluster);
  std::int64_t free_cpu = initial_free_cpu;
  std::map<Shape, bool> fits_initially;  // per shape: would have fit before this cycle's starts
  auto reason_for = [&](const PendingJob& job, const Shape& shape) -> std::string {
    if (job.per_node.cpu_milli > initial_free_cpu) return "Resources";
    auto [it, inserted] = fits_initially.try_emplace(shape, false);
    if (inserted) it->second = placer.Place(job, cluster).has_value();
    return it->second ? "Priority" : "Resources";
  };
  CycleResult result;
  for (const PendingJob* job : order) {
    if (job->per_node.cpu_milli > free_cpu) {
      result.still_pending.push_back({job->id, reason_for(*job, ShapeOf(*job))});
      continue;
    }
    const Shape shape = ShapeOf(*job);
    if (failed_shapes.count(shape)) {
      result.still_pending.push_back({job->id, reason_for(*job, shape)});
      continue;
    }
    if (auto nodes = placer.Place(*job, working)) {
      result.starts.push_back({job->id, GangPlacer::Commit(*job, *nodes, working)});
      free_cpu = max_free_cpu(working);
      continue;
    }
    // 3. Tell "busy" (Resources) from "taken by jobs ahead of it in this cycle" (Priority).
    failed_shapes.insert(shape);
    result.still_pending.push_back({job->id, reason_for(*job, shape)});
  }
  return result;
}

Verdict Scheduler::CheckFeasible(const PendingJob& job, const ClusterSnapshot& cluster) const {
  if (cluster.nodes.empty()) return Verdict::Success();  // nothing registered yet: wait
  std::string last_reason;
  for (NodeView node : cluster.nodes) {
    // An empty, healthy node: only permanent mismatches remain.
    node.free = node.capacity;
    node.gpu_free.assign(node.gpu_free.size(), true);
    node.idle = true;
    node.schedulable = true;
    bool fits = true;
    for (const auto& filter : profile_.filters) {
      Verdict v = filter->Filter(job, node);
      if (!v.ok()) {
        fits = false;
        last_reason = v.reason();
        break;
      }
    }
    if (fits) return Verdict::Success();
  }
  std::int64_t max_gpus = 0, max_cpu = 0, max_mem = 0;
  for (const NodeView& node : cluster.nodes) {
    max_gpus = std::max(max_gpus, node.capacity.gpus);
    max_cpu = std::max(max_cpu, node.capacity.cpu_milli);
    max_mem = std::max(max_mem, node.capacity.memory_bytes);
  }
  if (job.per_node.gpus > max_gpus) {
    return Verdict::Unresolvable(fmt::format(
        "gpus: {} per node requested but the largest node has {}", job.per_node.gpus, max_gpus));
  }
  if (job.per_node.cpu_milli > max_cpu) {
    return Verdict::Unresolvable(fmt::format("cpus: {} per node requested but the largest node has {}",
                                             job.per_node.cpu_milli / 1000, max_cpu / 1000));
  }
  if (job.per_node.memory_bytes > max_mem) {
    return Verdict::Unresolvable(
        fmt::format("memory: {} per node requested but the largest node has {}",
                    model::FormatMemory(job.per_node.memory_bytes), model::FormatMemory(max_mem)));
  }
  return Verdict::Unresolvable(fmt::format("no node can ever run this job: {}", last_reason));
}

}  // namespace weft::sched
