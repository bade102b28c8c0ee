// A resources × time plan of the cluster, for backfill (Flux's planner, much simplified):
// per node, how much is in use from `now` on, built from the running allocations and their
// expected ends, plus what this cycle starts and reserves. It answers "earliest time at
// which N distinct nodes each hold this request for this long" and "does this request fit
// on this node over [start, end)". Pure: no I/O, no clock; `now` is an input.
//
// GPUs are planned by count, not by slot: a slot is chosen when a job actually starts.
// An exclusive request needs the node unused (no allocation at all) over its interval and
// then takes the whole capacity.
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "common/clock.h"
#include "model/resources.h"
#include "sched/snapshot.h"

namespace weft::sched {

// "Never": the end of a job without a time limit, of a reservation for such a job, and of
// allocations whose end is unknown.
inline constexpr TimePoint kNever = TimePoint::max();

// start + duration, saturating at kNever; nullopt duration (no time limit) → kNever.
TimePoint EndAfter(TimePoint start, const std::optional<Duration>& duration);

class Planner {
 public:
  // Plans `cluster.nodes` (by index) from `now` on. Usage at `now` is capacity − free; each
  // rank of `cluster.running` with an expected end gives its resources back then (at `now`
  // if that end has passed); everything else is held forever.
  Planner(const ClusterSnapshot& cluster, TimePoint now);

  TimePoint now() const { return now_; }

  // Records that `job` starts now on `nodes` (indices) and holds them until `end`.
  void Start(const PendingJob& job, std::span<const std::size_t> nodes, TimePoint end);
  // Records a reservation: `job` holds `nodes` over [start, end). REQUIRES: start >= now().
  void Reserve(const PendingJob& job, std::span<const std::size_t> nodes, TimePoint start,
               TimePoint end);

  // Whether some reservation claims capacity on the node. A node without one only gets
  // freer over time, so what fits there now fits for any duration.
  bool HasReservation(std::size_t node) const { return nodes_[node].reserved; }
  bool HasAnyReservation() const { return any_reserved_; }
  // Whether one rank of `job` fits on `node` over [start, end) next to everything planned.
  // REQUIRES: now() <= start < end.
  bool Fits(std::size_t node, const PendingJob& job, TimePoint start, TimePoint end) const;

  struct Slot {
    TimePoint start;
    std::vector<std::size_t> nodes;  // job.num_nodes distinct indices, ascending
  };
  // The earliest start >= now() at which `job.num_nodes` of the `eligible` nodes (indices,
  // ascending) each fit one rank for the job's whole duration (its time limit; none = for
  // ever), and the lowest-indexed such nodes. With `job.topology` set, the nodes must also
  // share that label's value (one switch, rack or zone; a node without the label only
  // counts alone): the group holding the lowest-indexed free node among those with enough,
  // and its lowest-indexed nodes. nullopt when no such time exists (too few eligible nodes,
  // or capacity held forever). Cost: O(events on eligible nodes · log).
  std::optional<Slot> EarliestStart(const PendingJob& job,
                                    std::span<const std::size_t> eligible) const;

 private:
  struct Usage {
    model::Resources resources;
    int allocations = 0;  // what "idle" means for exclusive requests
    Usage& operator+=(const Usage& o) {
      resources += o.resources;
      allocations += o.allocations;
      return *this;
    }
  };
  struct NodePlan {
    model::Resources capacity;
    Usage base;                          // in use from now on, before `changes`
    std::map<TimePoint, Usage> changes;  // deltas at times >= now (ends negative)
    bool reserved = false;
  };
  Usage RankUsage(const PendingJob& job, const NodePlan& node) const;
  static bool Admits(const NodePlan& node, const Usage& in_use, const PendingJob& job);

  TimePoint now_;
  std::vector<NodePlan> nodes_;
  // Per topology level (kTopologyLevels), a group id per node: nodes with the same label
  // value share one, a node without the label has its own.
  std::array<std::vector<int>, 3> topology_groups_;
  bool any_reserved_ = false;
};

}  // namespace weft::sched
