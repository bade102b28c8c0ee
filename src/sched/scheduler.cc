#include "sched/scheduler.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "sched/gang_placer.h"
#include "sched/quota.h"
#include "sched/planner.h"

namespace weft::sched {

Profile DefaultProfile() {
  Profile p;
  p.queue_order = std::make_unique<PriorityOrder>();
  p.filters.push_back(std::make_unique<NodeAvailableFilter>());
  p.filters.push_back(std::make_unique<ResourceFitFilter>());
  p.filters.push_back(std::make_unique<IsolationFilter>());
  p.filters.push_back(std::make_unique<HostPortFilter>());
  p.scorers.push_back(std::make_unique<BestFitScore>());
  return p;
}

Profile ProfileFor(const model::SchedulerConfig& config) {
  Profile p = DefaultProfile();
  switch (config.backfill) {
    case model::BackfillMode::kNone: p.reservation_depth = 0; break;
    case model::BackfillMode::kEasy: p.reservation_depth = 1; break;
    case model::BackfillMode::kConservative: p.reservation_depth = std::numeric_limits<int>::max(); break;
  }
  return p;
}

Scheduler::Scheduler(Profile profile) : profile_(std::move(profile)) {}

namespace {

// Jobs with the same shape fit or fail together within a cycle: free resources only shrink
// (and the plan only fills) as the cycle goes on, so a shape that failed once fails for
// every later job that would run at least as long.
using Shape = std::tuple<int, std::int64_t, std::int64_t, std::int64_t, std::string, bool,
                         std::vector<std::string>, std::string, bool, int>;
Shape ShapeOf(const PendingJob& job) {
  return {job.num_nodes, job.per_node.cpu_milli, job.per_node.memory_bytes, job.per_node.gpus,
          job.gpu_model, job.exclusive,          job.pools,          job.topology,
          job.require_isolation, job.host_port};
}

}  // namespace

CycleResult Scheduler::RunCycle(const ClusterSnapshot& cluster,
                                std::span<const PendingJob> pending, TimePoint now) const {
  // 1. Order the queue. Jobs holding what their preemption victims free go first.
  std::vector<const PendingJob*> order = profile_.queue_order->Order(pending, now);
  HoldersFirst(order);
  // 2. Place each job on the cycle's working nodes; starting a job takes its resources there
  //    and in the plan (resources × time), which also holds the reservations. The working
  //    nodes are `cluster`'s, copied only where a start changes them (never `running` or
  //    `queues`: the cycle does not change those).
  WorkingNodes working(cluster.nodes);
  // Nodes by free resources, so a placement visits only nodes that could hold a rank. It must
  // follow every change to the working nodes: Commit updates it (else call Update).
  // Building it costs about as much as a few placements that scan every node, and most
  // cycles of a replay place one or two jobs, so the first kScannedPlacements placements
  // scan (same candidates, same decisions: see GangPlacer::Place) and the index is built
  // for the next one, from the snapshot's nodes plus an Update per node changed so far.
  constexpr int kScannedPlacements = 2;
  std::optional<NodeIndex> node_index;
  int placements = 0;
  auto index_for_placement = [&]() -> const NodeIndex* {
    if (!node_index && ++placements > kScannedPlacements) {
      node_index.emplace(cluster.nodes);
      for (std::size_t i : working.changed()) node_index->Update(i, working[i]);
    }
    return node_index ? &*node_index : nullptr;
  };
  // The plan is built on first need: a reservation to find (EarliestStart) for a job that
  // cannot start now. Only the plan makes reservations, so until it exists there is none a
  // start could delay, and placements need no check against it. Starts made before it
  // exists are recorded and replayed into it when it is built: Planner::Start only adds
  // usage, so the plan is the one built up front and fed every start would be. A cycle in
  // which every job starts (or none may reserve) never pays for it.
  std::optional<Planner> planner;
  struct UnplannedStart {
    const PendingJob* job;
    std::vector<std::size_t> nodes;
    TimePoint end;
  };
  std::vector<UnplannedStart> unplanned_starts;
  auto plan = [&]() -> Planner& {
    if (!planner) {
      planner.emplace(cluster, now);
      for (const UnplannedStart& start : unplanned_starts) {
        planner->Start(*start.job, start.nodes, start.end);
      }
      unplanned_starts.clear();
    }
    return *planner;
  };
  const GangPlacer placer(profile_.filters, profile_.scorers);
  // Per shape, the shortest run that failed to fit now (resp. to find a reservation). Free
  // resources only shrink and the plan only fills as the cycle goes on, so the same shape
  // running at least as long fails too. kNoLimit stands for "no time limit".
  constexpr std::int64_t kNoLimit = std::numeric_limits<std::int64_t>::max();
  auto run_length = [&](const PendingJob& job) {
    return job.time_limit ? job.time_limit->count() : kNoLimit;
  };
  std::map<Shape, std::int64_t> failed_shapes;
  std::map<Shape, std::int64_t> unreservable_shapes;
  auto known_to_fail = [&](const std::map<Shape, std::int64_t>& failed, const Shape& shape,
                           std::int64_t length) {
    auto it = failed.find(shape);
    return it != failed.end() && length >= it->second;
  };
  auto note_failure = [&](std::map<Shape, std::int64_t>& failed, const Shape& shape,
                          std::int64_t length) {
    auto [it, inserted] = failed.try_emplace(shape, length);
    if (!inserted) it->second = std::min(it->second, length);
  };
  // No job asks for less than its CPUs: once no node has that many free, it cannot fit
  // anywhere, without looking at a node (the common case in a long, busy queue).
  auto max_free_cpu = [](const auto& nodes) {
    std::int64_t best = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (nodes[i].schedulable) best = std::max(best, nodes[i].free.cpu_milli);
    }
    return best;
  };
  const std::int64_t initial_free_cpu = max_free_cpu(cluster.nodes);
  std::int64_t free_cpu = initial_free_cpu;
  std::map<Shape, bool> fits_initially;  // per shape: would have fit before this cycle's starts
  auto reason_for = [&](const PendingJob& job, const Shape& shape) -> std::string {
    if (job.per_node.cpu_milli > initial_free_cpu) return "Resources";
    auto [it, inserted] = fits_initially.try_emplace(shape, false);
    if (inserted) it->second = placer.Place(job, cluster).has_value();
    return it->second ? "Priority" : "Resources";
  };
  // Nodes as if empty, for "which nodes could ever hold this job" (built on first need).
  std::vector<NodeView> pristine;
  std::map<Shape, std::vector<std::size_t>> eligible_by_shape;
  auto eligible_nodes = [&](const PendingJob& job, const Shape& shape) -> const std::vector<std::size_t>& {
    auto [cached, inserted] = eligible_by_shape.try_emplace(shape);
    if (!inserted) return cached->second;
    if (pristine.empty()) {
      pristine = cluster.nodes;
      for (NodeView& node : pristine) {
        node.free = node.capacity;
        node.gpu_free.assign(node.gpu_free.size(), true);
        node.idle = true;
        node.host_ports.clear();  // held only while their jobs run
      }
    }
    for (std::size_t i = 0; i < pristine.size(); ++i) {
      bool ok = true;
      for (const auto& filter : profile_.filters) {
        if (!filter->Filter(job, pristine[i]).ok()) {
          ok = false;
          break;
        }
      }
      if (ok) cached->second.push_back(i);
    }
    return cached->second;
  };
  QuotaLedger quota(cluster.queues, cluster.queue_usage);
  // A preemption holder's quota does not count what its stopping victims still hold.
  QuotaLedger holder_quota = QuotaAfterStops(quota, cluster);
  CycleResult result;
  bool blocked = false;  // some job could not start (depth 0: nothing behind it may)
  for (const PendingJob* job : order) {
    // 0. Quota first: a queue past its quota (plus what it may borrow) waits, and gets no
    //    reservation, since free resources would not start it.
    model::Resources total;
    for (int i = 0; i < job->num_nodes; ++i) total += job->per_node;
    if (!(job->preemption_hold ? holder_quota : quota).Admits(job->queue, total)) {
      result.still_pending.push_back({job->id, "QuotaExceeded"});
      continue;
    }
    const Shape shape = ShapeOf(*job);
    const std::int64_t length = run_length(*job);
    const TimePoint end = EndAfter(now, job->time_limit);
    const bool held_back = profile_.reservation_depth <= 0 && blocked;
    if (!held_back && job->per_node.cpu_milli <= free_cpu &&
        !known_to_fail(failed_shapes, shape, length)) {
      // 3. Fit now, on nodes where running until `end` overlaps no reservation.
      // (No predicate at all while nothing is reserved: the common, cheap case.)
      std::function<bool(std::size_t)> clear_of_reservations;
      if (planner && planner->HasAnyReservation()) {
        clear_of_reservations = [&planner, job, now, end](std::size_t i) {
          return !planner->HasReservation(i) || planner->Fits(i, *job, now, end);
        };
      }
      if (auto nodes = placer.Place(*job, working, clear_of_reservations, index_for_placement())) {
        result.starts.push_back({job->id, GangPlacer::Commit(*job, *nodes, working,
                                                             node_index ? &*node_index : nullptr)});
        model::Resources taken;
        for (const auto& rank : result.starts.back().allocation.ranks) taken += rank.resources;
        quota.Charge(job->queue, taken);
        holder_quota.Charge(job->queue, taken);
        if (planner) {
          planner->Start(*job, *nodes, end);
        } else {
          unplanned_starts.push_back({job, std::move(*nodes), end});
        }
        free_cpu = node_index ? node_index->MaxFreeCpu() : max_free_cpu(working);
        continue;
      }
      note_failure(failed_shapes, shape, length);
    }
    blocked = true;
    // 4. Reserve the earliest start of the whole gang while the depth allows.
    if (static_cast<int>(result.reservations.size()) < profile_.reservation_depth &&
        !known_to_fail(unreservable_shapes, shape, length)) {
      if (auto slot = plan().EarliestStart(*job, eligible_nodes(*job, shape))) {
        planner->Reserve(*job, slot->nodes, slot->start, EndAfter(slot->start, job->time_limit));
        Reservation reservation{job->id, slot->start, {}};
        for (std::size_t i : slot->nodes) reservation.nodes.push_back(cluster.nodes[i].name);
        result.reservations.push_back(std::move(reservation));
      } else {
        note_failure(unreservable_shapes, shape, length);
      }
    }
    // 5. Tell "busy" (Resources) from "held for jobs ahead of it" (Priority).
    result.still_pending.push_back({job->id, reason_for(*job, shape)});
  }
  // 6. Preemption: blocked jobs, in queue order, may stop preemptible running jobs.
  std::set<model::JobId> started;
  for (const StartDecision& start : result.starts) started.insert(start.job_id);
  std::vector<const PendingJob*> blocked_jobs;
  for (const PendingJob* job : order) {
    if (!started.count(job->id)) blocked_jobs.push_back(job);
  }
  result.preemptions = PlanPreemptions(cluster, working, quota, placer, blocked_jobs, now);
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
    node.host_ports.clear();
    bool fits = true;
    for (const auto& filter : profile_.filters) {
      Verdict v = filter->Filter(job, node);
      if (!v.ok()) {
        fits = false;
        last_reason = v.reason();
        break;
      }
    }
    if (fits) return GangPlacer(profile_.filters, profile_.scorers).CheckTopology(job, cluster);
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
