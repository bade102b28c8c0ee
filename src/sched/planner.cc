#include "sched/planner.h"

#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "sched/gang_placer.h"

namespace weft::sched {

TimePoint EndAfter(TimePoint start, const std::optional<Duration>& duration) {
  if (!duration) return kNever;
  if (start >= kNever - *duration) return kNever;
  return start + *duration;
}

Planner::Planner(const ClusterSnapshot& cluster, TimePoint now) : now_(now) {
  nodes_.resize(cluster.nodes.size());
  // Node name → index, for the running ranks (hashed: this runs per rank, on every cycle
  // that plans). The views name strings owned by `cluster`, which outlives the constructor.
  std::unordered_map<std::string_view, std::size_t> index;
  index.reserve(cluster.nodes.size());
  for (std::size_t i = 0; i < cluster.nodes.size(); ++i) {
    const NodeView& view = cluster.nodes[i];
    NodePlan& plan = nodes_[i];
    plan.capacity = view.capacity;
    plan.base.resources = view.capacity - view.free;
    plan.base.allocations = view.idle ? 0 : 1;
    index.emplace(view.name, i);
  }
  topology_groups_ = GroupByTopology(cluster.nodes).of_node;
  // Ranks the snapshot explains: count them, and give back those with a known end.
  std::vector<int> explained(nodes_.size(), 0);
  for (const RunningAllocation& running : cluster.running) {
    for (const model::NodeAllocation& rank : running.ranks) {
      auto it = index.find(rank.node);
      if (it == index.end()) continue;  // a node the cycle does not plan (down)
      ++explained[it->second];
      if (!running.expected_end) continue;
      const TimePoint end = std::max(*running.expected_end, now_);
      Usage& delta = nodes_[it->second].changes[end];
      delta.resources -= rank.resources;
      delta.allocations -= 1;
    }
  }
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    nodes_[i].base.allocations = std::max(nodes_[i].base.allocations, explained[i]);
  }
}

Planner::Usage Planner::RankUsage(const PendingJob& job, const NodePlan& node) const {
  return {job.exclusive ? node.capacity : job.per_node, 1};
}

bool Planner::Admits(const NodePlan& node, const Usage& in_use, const PendingJob& job) {
  if (job.exclusive) return in_use.allocations <= 0 && in_use.resources == model::Resources{};
  return (in_use.resources + job.per_node).FitsIn(node.capacity);
}

void Planner::Start(const PendingJob& job, std::span<const std::size_t> nodes, TimePoint end) {
  for (std::size_t i : nodes) {
    NodePlan& node = nodes_[i];
    const Usage use = RankUsage(job, node);
    node.base += use;
    if (end != kNever) {
      Usage& delta = node.changes[end];
      delta.resources -= use.resources;
      delta.allocations -= use.allocations;
    }
  }
}

void Planner::Reserve(const PendingJob& job, std::span<const std::size_t> nodes, TimePoint start,
                      TimePoint end) {
  for (std::size_t i : nodes) {
    NodePlan& node = nodes_[i];
    const Usage use = RankUsage(job, node);
    node.changes[start] += use;
    if (end != kNever) {
      Usage& delta = node.changes[end];
      delta.resources -= use.resources;
      delta.allocations -= use.allocations;
    }
    node.reserved = true;
    any_reserved_ = true;
  }
}

bool Planner::Fits(std::size_t index, const PendingJob& job, TimePoint start, TimePoint end) const {
  const NodePlan& node = nodes_[index];
  Usage in_use = node.base;
  auto it = node.changes.begin();
  for (; it != node.changes.end() && it->first <= start; ++it) in_use += it->second;
  if (!Admits(node, in_use, job)) return false;
  for (; it != node.changes.end() && it->first < end; ++it) {
    in_use += it->second;
    if (!Admits(node, in_use, job)) return false;
  }
  return true;
}

std::optional<Planner::Slot> Planner::EarliestStart(const PendingJob& job,
                                                    std::span<const std::size_t> eligible) const {
  if (job.num_nodes <= 0 || eligible.size() < static_cast<std::size_t>(job.num_nodes)) {
    return std::nullopt;
  }
  const std::optional<std::size_t> level = TopologyLevel(job.topology);
  if (!job.topology.empty() && !level) return std::nullopt;  // Validate refuses these
  // A one-node gang meets any constraint; otherwise count open nodes per group.
  const std::vector<int>* groups =
      level && job.num_nodes > 1 ? &topology_groups_[*level] : nullptr;
  // Per node, the closed intervals [first, last] of start times whose whole [t, t+duration)
  // fits: each maximal run of admitting segments [a, b) gives starts [a, b − duration].
  struct Window {
    TimePoint first, last;
    std::size_t node;
  };
  std::vector<Window> windows;
  auto add_run = [&](std::size_t i, TimePoint a, TimePoint b) {
    if (b == kNever) {
      windows.push_back({a, kNever, i});
    } else if (job.time_limit && b - a >= *job.time_limit) {
      windows.push_back({a, b - *job.time_limit, i});
    }
  };
  for (std::size_t i : eligible) {
    const NodePlan& node = nodes_[i];
    Usage in_use = node.base;
    auto it = node.changes.begin();
    for (; it != node.changes.end() && it->first <= now_; ++it) in_use += it->second;
    std::optional<TimePoint> run_start;
    if (Admits(node, in_use, job)) run_start = now_;
    for (; it != node.changes.end(); ++it) {
      in_use += it->second;
      const bool ok = Admits(node, in_use, job);
      if (ok && !run_start) {
        run_start = it->first;
      } else if (!ok && run_start) {
        add_run(i, *run_start, it->first);
        run_start.reset();
      }
    }
    if (run_start) add_run(i, *run_start, kNever);
  }
  // Sweep: the first window opening at which num_nodes windows are open.
  struct Event {
    TimePoint at;
    int kind;  // 0: opens at `at`; 1: closes just after `at`
    std::size_t window;
  };
  std::vector<Event> events;
  events.reserve(windows.size() * 2);
  for (std::size_t w = 0; w < windows.size(); ++w) {
    events.push_back({windows[w].first, 0, w});
    if (windows[w].last != kNever) events.push_back({windows[w].last, 1, w});
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return std::tie(a.at, a.kind, a.window) < std::tie(b.at, b.kind, b.window);
  });
  int open = 0;
  // Constrained only: open windows per node, open nodes per group, groups with enough.
  std::vector<int> open_on_node(groups ? nodes_.size() : 0, 0);
  std::vector<int> open_in_group;
  if (groups) open_in_group.assign(groups->size(), 0);
  int full_groups = 0;
  for (std::size_t e = 0; e < events.size(); ++e) {
    const std::size_t node = windows[events[e].window].node;
    if (events[e].kind == 1) {
      --open;
      if (groups && --open_on_node[node] == 0 &&
          open_in_group[(*groups)[node]]-- == job.num_nodes) {
        --full_groups;
      }
      continue;
    }
    ++open;
    if (groups && open_on_node[node]++ == 0 && ++open_in_group[(*groups)[node]] == job.num_nodes) {
      ++full_groups;
    }
    const bool last_open_here =
        e + 1 == events.size() || events[e + 1].at != events[e].at || events[e + 1].kind != 0;
    if (!last_open_here || (groups ? full_groups == 0 : open < job.num_nodes)) continue;
    Slot slot{events[e].at, {}};
    for (const Window& w : windows) {
      if (w.first <= slot.start && slot.start <= w.last) slot.nodes.push_back(w.node);
    }
    std::sort(slot.nodes.begin(), slot.nodes.end());
    slot.nodes.erase(std::unique(slot.nodes.begin(), slot.nodes.end()), slot.nodes.end());
    if (groups) {
      // The group of the lowest-indexed node among groups with enough free nodes.
      std::map<int, int> per_group;
      for (std::size_t i : slot.nodes) ++per_group[(*groups)[i]];
      int chosen = -1;
      for (std::size_t i : slot.nodes) {
        if (per_group[(*groups)[i]] >= job.num_nodes) {
          chosen = (*groups)[i];
          break;
        }
      }
      std::erase_if(slot.nodes, [&](std::size_t i) { return (*groups)[i] != chosen; });
    }
    slot.nodes.resize(static_cast<std::size_t>(job.num_nodes));
    return slot;
  }
  return std::nullopt;
}

}  // namespace weft::sched
