#include "sched/plugins.h"

#include <algorithm>
#include <fmt/format.h>

namespace weft::sched {

std::vector<const PendingJob*> PriorityOrder::Order(std::span<const PendingJob> pending,
                                                    TimePoint /*now*/) const {
  // Sorts the keys in one contiguous array rather than pointers into the (large) jobs: the
  // comparisons then read memory in order instead of chasing a pointer each.
  struct Key {
    int priority;
    TimePoint submit_time;
    model::JobId id;
    std::size_t position;  // in `pending`: a last tie-break, so equal keys keep their order
  };
  std::vector<Key> keys;
  keys.reserve(pending.size());
  for (std::size_t i = 0; i < pending.size(); ++i) {
    keys.push_back({pending[i].priority, pending[i].submit_time, pending[i].id, i});
  }
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    if (a.priority != b.priority) return a.priority > b.priority;
    if (a.submit_time != b.submit_time) return a.submit_time < b.submit_time;
    if (a.id != b.id) return a.id < b.id;
    return a.position < b.position;
  });
  std::vector<const PendingJob*> out;
  out.reserve(pending.size());
  for (const Key& key : keys) out.push_back(&pending[key.position]);
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

bool NodeAvailableFilter::Accepts(const PendingJob& job, const NodeView& node) const {
  // The conditions of Filter above, in the same terms.
  return (job.pools.empty() ||
          std::find(job.pools.begin(), job.pools.end(), node.pool) != job.pools.end()) &&
         node.schedulable;
}

// Narrow only ever tightens a query: another filter may have narrowed it already, and either
// narrowing alone still keeps every node both filters accept.
void NodeAvailableFilter::Narrow(const PendingJob& job, NodeQuery& query) const {
  if (query.pools.empty()) query.pools = job.pools;
  query.schedulable = true;
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

bool ResourceFitFilter::Accepts(const PendingJob& job, const NodeView& node) const {
  // The conditions of Filter above, in the same order and terms.
  if (!job.gpu_model.empty() && job.per_node.gpus > 0 && job.gpu_model != node.gpu_model) {
    return false;
  }
  return job.per_node.FitsIn(node.capacity) && !(job.exclusive && !node.idle) &&
         job.per_node.FitsIn(node.free);
}

void ResourceFitFilter::Narrow(const PendingJob& job, NodeQuery& query) const {
  // Filter rejects a node whose free resources do not hold the request (whatever else holds),
  // a non-idle node for an exclusive job, and another GPU model when the job names one and
  // asks for GPUs.
  model::Resources& least = query.free_at_least;
  least.cpu_milli = std::max(least.cpu_milli, job.per_node.cpu_milli);
  least.memory_bytes = std::max(least.memory_bytes, job.per_node.memory_bytes);
  least.gpus = std::max(least.gpus, job.per_node.gpus);
  if (job.exclusive) query.idle = true;
  if (!job.gpu_model.empty() && job.per_node.gpus > 0 && query.gpu_model == nullptr) {
    query.gpu_model = &job.gpu_model;
  }
}

Verdict HostPortFilter::Filter(const PendingJob& job, const NodeView& node) const {
  if (Accepts(job, node)) return Verdict::Success();
  return Verdict::Unschedulable(fmt::format("port {} is taken on the node", job.host_port));
}

Verdict IsolationFilter::Filter(const PendingJob& job, const NodeView& node) const {
  if (Accepts(job, node)) return Verdict::Success();
  return Verdict::Unresolvable("node does not enforce isolation (memory, CPU, process limits)");
}

std::int64_t BestFitScore::Score(const PendingJob& job, const NodeView& node) const {
  // Fraction of the node's free resources the job would take, GPUs weighing most.
  // The shortcuts give what the division would (0 · 100 / free = 0; want >= free > 0 gives
  // at least 100) without its cost: Score runs for every candidate node of every placement.
  auto share = [](std::int64_t want, std::int64_t free) -> std::int64_t {
    if (free <= 0) return 100;
    if (want == 0) return 0;
    if (want >= free) return 100;
    return std::min<std::int64_t>(100, want * 100 / free);
  };
  const std::int64_t gpu = share(job.per_node.gpus, node.free.gpus);
  const std::int64_t cpu = share(job.per_node.cpu_milli, node.free.cpu_milli);
  const std::int64_t mem = share(job.per_node.memory_bytes, node.free.memory_bytes);
  return node.capacity.gpus > 0 ? (gpu * 2 + cpu + mem) / 4 : (cpu + mem) / 2;
}

}  // namespace weft::sched
