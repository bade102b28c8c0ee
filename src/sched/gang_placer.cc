#include "sched/gang_placer.h"

#include <algorithm>

namespace weft::sched {

std::optional<std::vector<std::size_t>> GangPlacer::Place(
    const PendingJob& job, const ClusterSnapshot& cluster,
    const std::function<bool(std::size_t)>& also) const {
  struct Candidate {
    std::int64_t score;
    std::size_t index;
  };
  std::vector<Candidate> candidates;
  for (std::size_t i = 0; i < cluster.nodes.size(); ++i) {
    const NodeView& node = cluster.nodes[i];
    bool fits = true;
    for (const auto& filter : filters_) {
      if (!filter->Filter(job, node).ok()) {
        fits = false;
        break;
      }
    }
    if (!fits || (also && !also(i))) continue;
    std::int64_t score = 0;
    for (const auto& scorer : scorers_) score += scorer->Score(job, node);
    candidates.push_back({score, i});
  }
  if (candidates.size() < static_cast<std::size_t>(job.num_nodes)) return std::nullopt;
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  std::vector<std::size_t> chosen;
  for (int r = 0; r < job.num_nodes; ++r) chosen.push_back(candidates[r].index);
  return chosen;
}

model::Allocation GangPlacer::Commit(const PendingJob& job, const std::vector<std::size_t>& nodes,
                                     ClusterSnapshot& cluster) {
  model::Allocation allocation;
  for (std::size_t index : nodes) {
    NodeView& node = cluster.nodes[index];
    model::NodeAllocation rank;
    rank.node = node.name;
    rank.resources = job.exclusive ? node.capacity : job.per_node;
    const std::int64_t gpus = rank.resources.gpus;
    for (std::size_t slot = 0; slot < node.gpu_free.size() &&
                               static_cast<std::int64_t>(rank.gpu_ids.size()) < gpus;
         ++slot) {
      if (node.gpu_free[slot]) {
        node.gpu_free[slot] = false;
        rank.gpu_ids.push_back(static_cast<int>(slot));
      }
    }
    node.free -= rank.resources;
    node.idle = false;
    allocation.ranks.push_back(std::move(rank));
  }
  return allocation;
}

}  // namespace weft::sched
