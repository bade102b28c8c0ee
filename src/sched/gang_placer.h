// All-or-nothing placement of a job's ranks on distinct nodes.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "model/job.h"
#include "sched/plugins.h"
#include "sched/snapshot.h"

namespace weft::sched {

class GangPlacer {
 public:
  GangPlacer(std::span<const std::unique_ptr<FilterPlugin>> filters,
             std::span<const std::unique_ptr<ScorePlugin>> scorers)
      : filters_(filters), scorers_(scorers) {}

  // Picks `job.num_nodes` distinct nodes that pass every filter, best scores first (ties by
  // node order). Returns nullopt when fewer nodes fit. `also`, when set, is one more filter
  // on node indices, asked only of nodes every plugin accepted.
  std::optional<std::vector<std::size_t>> Place(
      const PendingJob& job, const ClusterSnapshot& cluster,
      const std::function<bool(std::size_t)>& also = {}) const;

  // Takes the job's resources (and the lowest free GPU slots) from the chosen nodes of
  // `cluster` and returns the allocation, rank i on nodes[i].
  static model::Allocation Commit(const PendingJob& job, const std::vector<std::size_t>& nodes,
                                  ClusterSnapshot& cluster);

 private:
  std::span<const std::unique_ptr<FilterPlugin>> filters_;
  std::span<const std::unique_ptr<ScorePlugin>> scorers_;
};

}  // namespace weft::sched
