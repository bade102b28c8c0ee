#include "sched/gang_placer.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

namespace weft::sched {

std::optional<std::size_t> TopologyLevel(std::string_view topology) {
  for (std::size_t level = 0; level < kTopologyLevels.size(); ++level) {
    if (kTopologyLevels[level] == topology) return level;
  }
  return std::nullopt;
}

TopologyGroups GroupByTopology(const std::vector<NodeView>& nodes) {
  TopologyGroups out;
  for (std::size_t level = 0; level < kTopologyLevels.size(); ++level) {
    const std::string key(kTopologyLevels[level]);
    std::unordered_map<std::string_view, int> ids;  // lookups only; ids follow node order
    std::vector<int>& groups = out.of_node[level];
    groups.reserve(nodes.size());
    int next = 0;
    for (const NodeView& node : nodes) {
      const auto it = node.labels.find(key);
      if (it == node.labels.end()) {
        groups.push_back(next++);
        continue;
      }
      const auto [slot, inserted] = ids.try_emplace(it->second, next);
      if (inserted) ++next;
      groups.push_back(slot->second);
    }
    out.count[level] = next;
  }
  return out;
}

const TopologyGroups& GangPlacer::GroupsOf(const std::vector<NodeView>& nodes) const {
  for (const CachedGroups& cached : groups_cache_) {
    if (cached.nodes_at == &nodes && cached.nodes == nodes.size()) return cached.groups;
  }
  groups_cache_.push_back({&nodes, nodes.size(), GroupByTopology(nodes)});
  return groups_cache_.back().groups;
}

WorkingNodes::WorkingNodes(const std::vector<NodeView>& base) : base_(&base) {
  nodes_.reserve(base.size());
  for (const NodeView& node : base) nodes_.push_back(&node);
}

NodeView& WorkingNodes::Mutable(std::size_t i) {
  if (nodes_[i] == &(*base_)[i]) {
    nodes_[i] = &copies_.emplace_back((*base_)[i]);
    changed_.push_back(i);
  }
  // Only copies_ elements are ever written; nodes_ points at them as const for reads.
  return const_cast<NodeView&>(*nodes_[i]);
}

namespace {

constexpr std::size_t kLevels = kTopologyLevels.size();

struct Candidate {
  std::int64_t score;
  std::size_t index;
};

// The label keys, built once: NodeView::labels is a std::map<std::string, ...>.
const std::array<std::string, kLevels>& LevelKeys() {
  static const std::array<std::string, kLevels> keys = {
      std::string(kTopologyLevels[0]), std::string(kTopologyLevels[1]),
      std::string(kTopologyLevels[2])};
  return keys;
}

// Packs a gang onto candidates given by position in preference order (best score first, ties
// by node order): position p is better than p + 1. Works on positions only, so every choice
// is deterministic. Group ids are computed per level on first need.
class Packer {
 public:
  Packer(const std::vector<Candidate>& candidates, const TopologyGroups& topology)
      : candidates_(candidates), topology_(topology) {}

  // Per candidate position, its node's group id at `level` (dense over the whole cluster).
  const std::vector<int>& Ids(std::size_t level) {
    std::vector<int>& out = group_[level];
    if (!out.empty() || candidates_.empty()) return out;
    out.reserve(candidates_.size());
    for (const Candidate& c : candidates_) out.push_back(topology_.of_node[level][c.index]);
    groups_[level] = topology_.count[level];
    return out;
  }

  // Whether no node carries a topology label (every group is a single node).
  bool Flat() const {
    for (std::size_t level = 0; level < kLevels; ++level) {
      if (topology_.count[level] != static_cast<int>(topology_.of_node[level].size())) {
        return false;
      }
    }
    return true;
  }

  // The members of `members` (ascending positions) split by their group at `level`, keeping
  // only groups of at least `min_size`: each group's positions ascending, groups in order of
  // their best position. O(members + groups at the level).
  std::vector<std::vector<int>> Split(std::span<const int> members, std::size_t level,
                                      int min_size = 1) {
    const std::vector<int>& ids = Ids(level);
    std::vector<int> size(static_cast<std::size_t>(groups_[level]), 0);
    for (int p : members) ++size[ids[p]];
    std::vector<int> slot(size.size(), -1);
    std::vector<std::vector<int>> out;
    for (int p : members) {
      const int g = ids[p];
      if (size[g] < min_size) continue;
      if (slot[g] < 0) {
        slot[g] = static_cast<int>(out.size());
        out.emplace_back().reserve(static_cast<std::size_t>(size[g]));
      }
      out[slot[g]].push_back(p);
    }
    return out;
  }

  // `n` of `members` (ascending positions; REQUIRES: n <= size) on as few switches as
  // possible: whole switches largest first (ties: larger rack share, then rack, then best
  // position), the remainder on the smallest switch that holds it; best positions within.
  std::vector<int> Spread(std::span<const int> members, int n) {
    if (members.size() == static_cast<std::size_t>(n)) return {members.begin(), members.end()};
    const std::vector<int>& racks = Ids(1);
    std::vector<int> rack_members(static_cast<std::size_t>(groups_[1]), 0);
    for (int p : members) ++rack_members[racks[p]];
    const std::vector<std::vector<int>> switches = Split(members, 0);
    std::vector<std::size_t> order(switches.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    auto key = [&](std::size_t s) {
      const int rack = racks[switches[s][0]];
      return std::make_tuple(-static_cast<int>(switches[s].size()), -rack_members[rack], rack,
                             switches[s][0]);
    };
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return key(a) < key(b); });
    std::vector<int> chosen;
    int remaining = n;
    for (std::size_t i = 0; remaining > 0; ++i) {
      const std::vector<int>* group = &switches[order[i]];
      if (static_cast<int>(group->size()) >= remaining) {
        // Last switch: the smallest one (first in order among equals) that holds the rest.
        for (std::size_t j = i + 1; j < order.size(); ++j) {
          const std::vector<int>& other = switches[order[j]];
          if (static_cast<int>(other.size()) < remaining) break;
          if (other.size() < group->size()) group = &other;
        }
        chosen.insert(chosen.end(), group->begin(), group->begin() + remaining);
        remaining = 0;
      } else {
        chosen.insert(chosen.end(), group->begin(), group->end());
        remaining -= static_cast<int>(group->size());
      }
    }
    std::sort(chosen.begin(), chosen.end());
    return chosen;
  }

  // What a placement costs: fewer switches, then racks, then a higher score sum, then a
  // smaller pool (keeps big groups for big gangs), then a better first position.
  using Cost = std::tuple<int, int, std::int64_t, std::size_t, int>;
  std::int64_t ScoreSum(std::span<const int> positions) const {
    std::int64_t score = 0;
    for (int p : positions) score += candidates_[p].score;
    return score;
  }
  Cost CostOf(std::span<const int> positions, std::size_t pool) {
    auto distinct = [&](std::size_t level) {
      const std::vector<int>& ids = Ids(level);
      std::vector<int> used;
      used.reserve(positions.size());
      for (int p : positions) used.push_back(ids[p]);
      std::sort(used.begin(), used.end());
      return static_cast<int>(std::unique(used.begin(), used.end()) - used.begin());
    };
    return {distinct(0), distinct(1), -ScoreSum(positions), pool,
            positions.empty() ? 0 : positions[0]};
  }

  // Inside one switch, when one holds n of `members` (ascending positions): each such switch
  // costs one switch and one rack, so the switch with the highest score sum of its n best
  // positions wins, then the one with fewer members, then the better best position (Cost as
  // in CostOf). Same answer as splitting by switch, in one pass without building each
  // switch's member list (this runs for most gangs). nullopt when no switch holds n.
  std::optional<std::vector<int>> OneSwitch(std::span<const int> members, int n) {
    const std::vector<int>& ids = Ids(0);
    struct Tally {
      int size = 0;
      std::int64_t sum = 0;  // of its first (best) n positions
      int first = -1;        // its best position
    };
    std::vector<Tally> tally(static_cast<std::size_t>(groups_[0]));
    for (int p : members) {
      Tally& t = tally[static_cast<std::size_t>(ids[p])];
      if (t.size == 0) t.first = p;
      if (t.size < n) t.sum += candidates_[p].score;
      ++t.size;
    }
    int best = -1;
    Cost best_cost;
    for (std::size_t g = 0; g < tally.size(); ++g) {
      const Tally& t = tally[g];
      if (t.size < n) continue;
      const Cost cost{1, 1, -t.sum, static_cast<std::size_t>(t.size), t.first};
      if (best < 0 || cost < best_cost) {
        best = static_cast<int>(g);
        best_cost = cost;
      }
    }
    if (best < 0) return std::nullopt;
    std::vector<int> plan;
    plan.reserve(static_cast<std::size_t>(n));
    for (int p : members) {
      if (ids[p] != best) continue;
      plan.push_back(p);
      if (static_cast<int>(plan.size()) == n) break;
    }
    return plan;
  }

  // The best placement of `n` of `members` using only levels below `max_level`: inside one
  // switch if one holds n, else one rack, else one zone, else spread. REQUIRES: n <= size.
  std::vector<int> Best(std::span<const int> members, int n, std::size_t max_level) {
    for (std::size_t level = 0; level < max_level; ++level) {
      if (level == 0) {
        if (std::optional<std::vector<int>> plan = OneSwitch(members, n)) return *plan;
        continue;
      }
      const std::vector<std::vector<int>> groups = Split(members, level, n);
      if (groups.empty()) continue;
      // No finer group holds n here, so a rack or zone is spread over its switches.
      std::vector<int> best;
      Cost best_cost;
      for (const std::vector<int>& group : groups) {
        std::vector<int> plan = Spread(group, n);
        const Cost cost = CostOf(plan, group.size());
        if (best.empty() || cost < best_cost) {
          best = std::move(plan);
          best_cost = cost;
        }
      }
      return best;
    }
    return Spread(members, n);
  }

  // The best placement inside one group of `level` that has n members, or nullopt.
  std::optional<std::vector<int>> BestWithin(std::span<const int> members, int n,
                                             std::size_t level) {
    std::optional<std::vector<int>> best;
    Cost best_cost;
    for (const std::vector<int>& group : Split(members, level, n)) {
      std::vector<int> plan = Best(group, n, level);
      const Cost cost = CostOf(plan, group.size());
      if (!best || cost < best_cost) {
        best = std::move(plan);
        best_cost = cost;
      }
    }
    return best;
  }

 private:
  const std::vector<Candidate>& candidates_;
  const TopologyGroups& topology_;
  std::array<std::vector<int>, kLevels> group_;
  std::array<int, kLevels> groups_{};
};

// Orders candidates best score first, ties by node order (a total order, so the result is
// deterministic). REQUIRES: `candidates` in ascending node order, as Place builds them. Then
// a stable counting sort by score gives exactly that order in O(n + score range); it is used
// when the scores span a small range (the built-in score is 0..100), else a comparison sort.
void SortByPreference(std::vector<Candidate>& candidates) {
  if (candidates.size() < 2) return;
  const auto [low, high] = std::minmax_element(
      candidates.begin(), candidates.end(),
      [](const Candidate& a, const Candidate& b) { return a.score < b.score; });
  const std::int64_t best = high->score;
  // Unsigned: the difference of two int64 scores may not fit an int64.
  const std::uint64_t range =
      static_cast<std::uint64_t>(best) - static_cast<std::uint64_t>(low->score);
  if (range > 4 * candidates.size() + 1024) {
    std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
      return a.score != b.score ? a.score > b.score : a.index < b.index;
    });
    return;
  }
  // Bucket b holds score best - b; each bucket keeps the input (node) order.
  auto bucket = [best](const Candidate& c) {
    return static_cast<std::size_t>(static_cast<std::uint64_t>(best) -
                                    static_cast<std::uint64_t>(c.score));
  };
  std::vector<std::size_t> next(static_cast<std::size_t>(range) + 2, 0);
  for (const Candidate& c : candidates) ++next[bucket(c) + 1];
  for (std::size_t b = 1; b < next.size(); ++b) next[b] += next[b - 1];
  std::vector<Candidate> sorted(candidates.size());
  for (const Candidate& c : candidates) sorted[next[bucket(c)]++] = c;
  candidates.swap(sorted);
}

// The node as it would be were the cluster empty and the node up.
NodeView Pristine(NodeView node) {
  node.free = node.capacity;
  node.gpu_free.assign(node.gpu_free.size(), true);
  node.idle = true;
  node.schedulable = true;
  node.host_ports.clear();
  return node;
}

}  // namespace

std::optional<std::vector<std::size_t>> GangPlacer::Place(
    const PendingJob& job, const ClusterSnapshot& cluster,
    const std::function<bool(std::size_t)>& also, const NodeIndex* index) const {
  auto node_at = [&cluster](std::size_t i) -> const NodeView& { return cluster.nodes[i]; };
  return PlaceOn(job, node_at, cluster.nodes.size(), cluster.nodes, also, index);
}

std::optional<std::vector<std::size_t>> GangPlacer::Place(
    const PendingJob& job, const WorkingNodes& nodes,
    const std::function<bool(std::size_t)>& also, const NodeIndex* index) const {
  auto node_at = [&nodes](std::size_t i) -> const NodeView& { return nodes[i]; };
  return PlaceOn(job, node_at, nodes.size(), nodes.base(), also, index);
}

template <typename NodeAt>
std::optional<std::vector<std::size_t>> GangPlacer::PlaceOn(
    const PendingJob& job, const NodeAt& node_at, std::size_t count,
    const std::vector<NodeView>& labelled, const std::function<bool(std::size_t)>& also,
    const NodeIndex* index) const {
  const std::optional<std::size_t> level = TopologyLevel(job.topology);
  if (!job.topology.empty() && !level) return std::nullopt;  // Validate refuses these
  assert(index == nullptr || index->size() == count);
  if (index != nullptr && index->size() != count) index = nullptr;
  auto fits = [&](std::size_t i) {
    for (const auto& filter : filters_) {
      if (!filter->Accepts(job, node_at(i))) return false;
    }
    return !also || also(i);
  };
  // The nodes to look at, in ascending order: every node, or the superset of the nodes every
  // filter accepts that the index names for the filters' narrowed query. Either way `fits`
  // decides, so both give the same candidates in the same order.
  auto for_each_node = [&](auto&& visit) {
    if (index == nullptr) {
      for (std::size_t i = 0; i < count; ++i) visit(i);
      return;
    }
    NodeQuery query;
    for (const auto& filter : filters_) filter->Narrow(job, query);
    index->ForEach(query, visit);
  };
  auto score_of = [&](std::size_t i) {
    std::int64_t score = 0;
    for (const auto& scorer : scorers_) score += scorer->Score(job, node_at(i));
    return score;
  };
  const int n = job.num_nodes;
  if (n <= 0) return std::vector<std::size_t>{};
  // One node (most jobs): the best score, ties to the first node, in one pass with no
  // allocation; any single node meets a topology constraint alone.
  if (n == 1) {
    std::optional<Candidate> best;
    for_each_node([&](std::size_t i) {
      if (!fits(i)) return;
      const std::int64_t score = score_of(i);
      if (!best || score > best->score) best = Candidate{score, i};
    });
    if (!best) return std::nullopt;
    return std::vector<std::size_t>{best->index};
  }
  std::vector<Candidate> candidates;
  candidates.reserve(count);
  for_each_node([&](std::size_t i) {
    if (fits(i)) candidates.push_back({score_of(i), i});
  });
  if (candidates.size() < static_cast<std::size_t>(n)) return std::nullopt;
  SortByPreference(candidates);
  std::vector<std::size_t> chosen;
  // No labels to pack by: the best scores.
  Packer packer(candidates, GroupsOf(labelled));
  if (!level && packer.Flat()) {
    for (int r = 0; r < n; ++r) chosen.push_back(candidates[r].index);
    return chosen;
  }
  std::vector<int> all(candidates.size());
  for (std::size_t p = 0; p < all.size(); ++p) all[p] = static_cast<int>(p);
  std::vector<int> positions;
  if (level) {
    auto within = packer.BestWithin(all, n, *level);
    if (!within) return std::nullopt;
    positions = std::move(*within);
  } else {
    positions = packer.Best(all, n, kLevels);
  }
  for (int p : positions) chosen.push_back(candidates[p].index);
  return chosen;
}

Verdict GangPlacer::CheckTopology(const PendingJob& job, const ClusterSnapshot& cluster) const {
  if (job.topology.empty()) return Verdict::Success();
  const std::optional<std::size_t> level = TopologyLevel(job.topology);
  if (!level) {
    return Verdict::Unresolvable(
        fmt::format("topology: '{}' is not one of switch, rack, zone", job.topology));
  }
  const std::string& key = LevelKeys()[*level];
  std::map<std::string, int> fitting;  // per label value, nodes that could run a rank
  int largest = 0;
  for (const NodeView& view : cluster.nodes) {
    const NodeView node = Pristine(view);
    bool fits = true;
    for (const auto& filter : filters_) {
      if (!filter->Filter(job, node).ok()) {
        fits = false;
        break;
      }
    }
    if (!fits) continue;
    const auto it = node.labels.find(key);
    largest = std::max(largest, it == node.labels.end() ? 1 : ++fitting[it->second]);
  }
  if (largest >= job.num_nodes) return Verdict::Success();
  return Verdict::Unresolvable(fmt::format(
      "topology: {} nodes must share one {}, but no {} has more than {} that could run this job",
      job.num_nodes, job.topology, job.topology, largest));
}

model::NodeAllocation GangPlacer::CommitRank(const PendingJob& job, NodeView& node) {
  model::NodeAllocation rank;
  rank.node = node.name;
  rank.resources = job.exclusive ? node.capacity : job.per_node;
  const std::int64_t gpus = rank.resources.gpus;
  for (std::size_t slot = 0;
       slot < node.gpu_free.size() && static_cast<std::int64_t>(rank.gpu_ids.size()) < gpus;
       ++slot) {
    if (node.gpu_free[slot]) {
      node.gpu_free[slot] = false;
      rank.gpu_ids.push_back(static_cast<int>(slot));
    }
  }
  node.free -= rank.resources;
  node.idle = false;
  if (job.host_port != 0) node.host_ports.push_back(job.host_port);
  return rank;
}

model::Allocation GangPlacer::Commit(const PendingJob& job, const std::vector<std::size_t>& nodes,
                                     ClusterSnapshot& cluster, NodeIndex* node_index) {
  model::Allocation allocation;
  for (std::size_t index : nodes) {
    NodeView& node = cluster.nodes[index];
    allocation.ranks.push_back(CommitRank(job, node));
    if (node_index != nullptr) node_index->Update(index, node);
  }
  return allocation;
}

model::Allocation GangPlacer::Commit(const PendingJob& job, const std::vector<std::size_t>& nodes,
                                     WorkingNodes& working, NodeIndex* node_index) {
  model::Allocation allocation;
  for (std::size_t index : nodes) {
    NodeView& node = working.Mutable(index);
    allocation.ranks.push_back(CommitRank(job, node));
    if (node_index != nullptr) node_index->Update(index, node);
  }
  return allocation;
}

}  // namespace weft::sched
