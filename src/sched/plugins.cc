#include "sched/plugins.h"

#include <algorithm>
#include <fmt/format.h>

namespace weft::sched {

std::vector<const PendingJob*> PriorityOrder::Order(std::span<const PendingJob> pending,
                                                    TimePoint /*now*/) const {
  std::vector<const PendingJob*> out;
  out.reserve(pending.size());
  for (const PendingJob& job : pending) out.push_back(&job);
  std::sort(out.begin(), out.end(), [](const PendingJob* a, const PendingJob* b) {
    if (a->priority != b->priority) return a->priority > b->priority;
    if (a->submit_time != b->submit_time) return a->submit_time < b->submit_time;
    return a->id < b->id;
  });
  return out;
}

Verdict NodeAvailableFilter::Filter(const PendingJob& job, const NodeView& node) const {
  if (!job.pools.empty() &&
      std::find(job.pools.begin(), job.pools.end(), node.pool) == job.pools.end()) {
    return Verdict::Unresolvable("node is in another pool");
  }
  if (!node.schedulable) return Verdict::Unschedulable("node is down");
  return Verdict::Success();
}

Verdict ResourceFitFilter::Filter(const PendingJob& job, const NodeView& node) const {
  if (!job.gpu_model.empty() && job.per_node.gpus > 0 && job.gpu_model != node.gpu_model) {
    return Verdict::Unresolvable(fmt::format("node has no {} GPUs", job.gpu_model));
  }
  if (!job.per_node.FitsIn(node.capacity)) {
    return Verdict::Unresolvable("request exceeds the node's capacity");
  }
  if (job.exclusive && !node.idle) return Verdict::Unschedulable("node is not idle");
  if (!job.per_node.FitsIn(node.free)) return Verdict::Unschedulable("not enough free resources");
  return Verdict::Success();
}

std::int64_t BestFitScore::Score(const PendingJob& job, const NodeView& node) const {
  // Fraction of the node's free resources the job would take, GPUs weighing most.
  auto share = [](std::int64_t want, std::int64_t free) -> std::int64_t {
    return free <= 0 ? 100 : std::min<std::int64_t>(100, want * 100 / free);
  };
  const std::int64_t gpu = share(job.per_node.gpus, node.free.gpus);
  const std::int64_t cpu = share(job.per_node.cpu_milli, node.free.cpu_milli);
  const std::int64_t mem = share(job.per_node.memory_bytes, node.free.memory_bytes);
  return node.capacity.gpus > 0 ? (gpu * 2 + cpu + mem) / 4 : (cpu + mem) / 2;
}

}  // namespace weft::sched
