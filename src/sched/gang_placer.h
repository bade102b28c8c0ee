// All-or-nothing placement of a job's ranks on distinct nodes, packed by network topology.
#pragma once

#include <array>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "model/job.h"
#include "sched/node_index.h"
#include "sched/plugins.h"
#include "sched/snapshot.h"

namespace weft::sched {

// The node labels that describe the network, finest first: a switch sits in a rack, a rack in
// a zone. A node without one of them is a group of its own at that level. These are also the
// values `PendingJob::topology` may take.
inline constexpr std::array<std::string_view, 3> kTopologyLevels = {"switch", "rack", "zone"};

// Index of `topology` in kTopologyLevels; nullopt for "" and for unknown names.
std::optional<std::size_t> TopologyLevel(std::string_view topology);

// Per topology level, a dense group id per node (nodes sharing the label's value share an
// id, a node without the label has its own), ids in order of first appearance, and the
// number of groups.
struct TopologyGroups {
  std::array<std::vector<int>, kTopologyLevels.size()> of_node;
  std::array<int, kTopologyLevels.size()> count{};
};
TopologyGroups GroupByTopology(const std::vector<NodeView>& nodes);

// A cycle's working copy of a snapshot's nodes, copied on write: node i reads as `base[i]`
// until its first change (Mutable), which copies that node alone. A cycle so pays per node
// it changes (a start's ranks), not per node of the cluster. `base` must outlive this and
// not change while it is in use; node positions are `base`'s.
class WorkingNodes {
 public:
  explicit WorkingNodes(const std::vector<NodeView>& base);
  WorkingNodes(const WorkingNodes&) = delete;  // nodes_ may point into copies_
  WorkingNodes& operator=(const WorkingNodes&) = delete;

  std::size_t size() const { return nodes_.size(); }
  const NodeView& operator[](std::size_t i) const { return *nodes_[i]; }
  // Node i, to change: copied from `base` on first use. Whoever changes it keeps any
  // NodeIndex of these nodes up to date (NodeIndex::Update).
  NodeView& Mutable(std::size_t i);
  // The nodes whose labels (and names) these share: `base`.
  const std::vector<NodeView>& base() const { return *base_; }
  // Positions of the nodes changed so far (copied by Mutable), in order of first change.
  const std::vector<std::size_t>& changed() const { return changed_; }

 private:
  const std::vector<NodeView>* base_;
  std::vector<const NodeView*> nodes_;  // into *base_, or into copies_ once changed
  std::deque<NodeView> copies_;         // a deque: growing it moves no element
  std::vector<std::size_t> changed_;
};

class GangPlacer {
 public:
  GangPlacer(std::span<const std::unique_ptr<FilterPlugin>> filters,
             std::span<const std::unique_ptr<ScorePlugin>> scorers)
      : filters_(filters), scorers_(scorers) {}

  // Picks `job.num_nodes` distinct nodes that pass every filter, or nullopt. `also`, when
  // set, is one more filter on node indices, asked only of nodes every plugin accepted.
  // `index`, when given, must describe `cluster.nodes` as they are now (see NodeIndex::Update;
  // Commit keeps it so): Place then visits only the nodes it names for the query the filters
  // narrow (FilterPlugin::Narrow) instead of every node. Same result either way.
  //
  // Packing: the gang lands on as few switches, then racks, as it can. If one switch (else
  // one rack, else one zone) holds enough fitting nodes, the gang stays inside one such
  // group: the one whose placement uses the fewest switches, then racks, then has the best
  // score sum (then the fewest fitting nodes, keeping large groups whole for large gangs;
  // then node order). Otherwise whole switches are taken largest first and the remainder
  // goes to the smallest switch that holds it. Within a group nodes go best score first,
  // ties by node order; without topology labels that is exactly "best scores first".
  //
  // With `job.topology` set ("switch", "rack", "zone"), every rank must share that label's
  // value (a node without the label only hosts a one-node gang): the gang is placed inside
  // one such group that has enough fitting nodes, chosen as above, or not at all.
  std::optional<std::vector<std::size_t>> Place(
      const PendingJob& job, const ClusterSnapshot& cluster,
      const std::function<bool(std::size_t)>& also = {}, const NodeIndex* index = nullptr) const;
  // The same on a cycle's working nodes (same result as on a snapshot holding those nodes).
  std::optional<std::vector<std::size_t>> Place(
      const PendingJob& job, const WorkingNodes& nodes,
      const std::function<bool(std::size_t)>& also = {}, const NodeIndex* index = nullptr) const;

  // Whether the job's topology constraint could ever be met: Success when it has none, or
  // when some group of `job.topology` has `job.num_nodes` nodes that would pass every filter
  // were the cluster empty and every node up; else Unresolvable with one sentence saying so.
  // For submit-time feasibility (nodes that no filter accepts alone are the caller's concern).
  Verdict CheckTopology(const PendingJob& job, const ClusterSnapshot& cluster) const;

  // Takes the job's resources (and the lowest free GPU slots) from the chosen nodes of
  // `cluster` and returns the allocation, rank i on nodes[i]. `index`, when given, indexes
  // `cluster.nodes` and is updated for the nodes changed.
  static model::Allocation Commit(const PendingJob& job, const std::vector<std::size_t>& nodes,
                                  ClusterSnapshot& cluster, NodeIndex* index = nullptr);
  // The same on a cycle's working nodes: only the chosen nodes are copied (Mutable).
  static model::Allocation Commit(const PendingJob& job, const std::vector<std::size_t>& nodes,
                                  WorkingNodes& working, NodeIndex* index = nullptr);

 private:
  // The topology groups of `nodes`, computed on first use per node vector (by address and
  // size) and kept for the placer's lifetime. REQUIRES: the nodes and labels of a vector
  // given to Place do not change while this placer is in use (a cycle's snapshot and its
  // working copy only change free resources). Not thread-safe.
  const TopologyGroups& GroupsOf(const std::vector<NodeView>& nodes) const;
  // Place on `count` nodes read through `node_at(i)`, grouped by `labelled`'s labels.
  template <typename NodeAt>
  std::optional<std::vector<std::size_t>> PlaceOn(const PendingJob& job, const NodeAt& node_at,
                                                  std::size_t count,
                                                  const std::vector<NodeView>& labelled,
                                                  const std::function<bool(std::size_t)>& also,
                                                  const NodeIndex* index) const;
  static model::NodeAllocation CommitRank(const PendingJob& job, NodeView& node);

  std::span<const std::unique_ptr<FilterPlugin>> filters_;
  std::span<const std::unique_ptr<ScorePlugin>> scorers_;
  struct CachedGroups {
    const std::vector<NodeView>* nodes_at;
    std::size_t nodes;
    TopologyGroups groups;
  };
  mutable std::vector<CachedGroups> groups_cache_;
};

}  // namespace weft::sched
