#include "sched/preemption.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>

namespace weft::sched {
namespace {

model::Resources Total(const RunningAllocation& running) {
  model::Resources total;
  for (const model::NodeAllocation& rank : running.ranks) total += rank.resources;
  return total;
}

model::Resources Total(const PendingJob& job) {
  model::Resources total;
  for (int i = 0; i < job.num_nodes; ++i) total += job.per_node;
  return total;
}

const model::QueueConfig* FindQueue(const ClusterSnapshot& cluster, const std::string& name) {
  for (const model::QueueConfig& q : cluster.queues) {
    if (q.name == name) return &q;
  }
  return nullptr;
}

// Reclaim applies when the job's queue lends (has a cohort and a nominal quota) and the job
// stays within that nominal quota: what it waits for is its own quota, lent to peers.
bool WithinNominal(const ClusterSnapshot& cluster, const QuotaLedger& quota,
                   const PendingJob& job) {
  const model::QueueConfig* config = FindQueue(cluster, job.queue);
  if (!config || config->cohort.empty() || config->quota.Unlimited()) return false;
  const model::Resources wanted = quota.Usage(job.queue) + Total(job);
  return config->quota.Allows(wanted);
}

// Whether `peer` (a cohort peer of the job's queue) uses more than its nominal quota in a
// resource the job asks for.
bool BorrowsWhatJobNeeds(const QuotaLedger& quota, const std::string& peer, const PendingJob& job) {
  const model::Resources borrowed = quota.Borrowed(peer);
  const model::Resources wanted = Total(job);
  for (const model::LimitedResource& d : model::kLimitedResources) {
    if (wanted.*d.used > 0 && borrowed.*d.used > 0) return true;
  }
  return false;
}

struct Candidate {
  const RunningAllocation* running;
  double lost_work;
  bool reclaim_only;  // eligible as a borrower of the job's queue's quota, not by priority
};

// The working cluster with `victims` gone: their ranks' resources and GPU slots back on their
// nodes and their quota refunded.
class Trial {
 public:
  Trial(const WorkingNodes& working_nodes, const QuotaLedger& quota,
        const std::map<std::string, std::size_t>& node_index)
      : working_nodes_(working_nodes), quota_(quota), node_index_(node_index) {}

  bool Fits(const PendingJob& job, const GangPlacer& placer,
            const std::vector<const RunningAllocation*>& victims) const {
    // One scratch snapshot for every trial: the placer caches topology groups per node
    // vector address, and the nodes' names and labels never change between trials.
    ClusterSnapshot& cluster = scratch_;
    // Placement reads nodes only.
    cluster.nodes.resize(working_nodes_.size());
    for (std::size_t i = 0; i < cluster.nodes.size(); ++i) cluster.nodes[i] = working_nodes_[i];
    QuotaLedger quota = quota_;
    for (const RunningAllocation* victim : victims) {
      quota.Refund(victim->queue, Total(*victim));
      for (const model::NodeAllocation& rank : victim->ranks) {
        auto it = node_index_.find(rank.node);
        if (it == node_index_.end()) continue;
        NodeView& node = cluster.nodes[it->second];
        node.free += rank.resources;
        for (int g : rank.gpu_ids) {
          if (g >= 0 && static_cast<std::size_t>(g) < node.gpu_free.size()) node.gpu_free[g] = true;
        }
        node.idle = node.free == node.capacity;
      }
    }
    if (!quota.Admits(job.queue, Total(job))) return false;
    return placer.Place(job, cluster).has_value();
  }

 private:
  const WorkingNodes& working_nodes_;
  const QuotaLedger& quota_;
  const std::map<std::string, std::size_t>& node_index_;
  mutable ClusterSnapshot scratch_;
};

// Jobs alike in everything preemption looks at get the same answer while no preemption has
// been planned in between: a failure is remembered by this key.
using Likeness = std::tuple<int, std::int64_t, std::int64_t, std::int64_t, std::string, bool,
                            std::vector<std::string>, std::string, std::string, int, bool>;

}  // namespace

double LostWork(const RunningAllocation& running, TimePoint now) {
  const model::Resources held = Total(running);
  const double seconds =
      std::max<double>(0, std::chrono::duration<double>(now - running.start_time).count());
  const double units = held.gpus > 0 ? static_cast<double>(held.gpus)
                                     : static_cast<double>((held.cpu_milli + 999) / 1000);
  return seconds * units;
}

void HoldersFirst(std::vector<const PendingJob*>& order) {
  std::stable_partition(order.begin(), order.end(),
                        [](const PendingJob* job) { return job->preemption_hold; });
}

QuotaLedger QuotaAfterStops(const QuotaLedger& quota, const ClusterSnapshot& cluster) {
  QuotaLedger out = quota;
  for (const RunningAllocation& running : cluster.running) {
    if (running.stopping) out.Refund(running.queue, Total(running));
  }
  return out;
}

std::vector<PreemptDecision> PlanPreemptions(const ClusterSnapshot& cluster,
                                             const WorkingNodes& working_nodes,
                                             const QuotaLedger& quota, const GangPlacer& placer,
                                             std::span<const PendingJob* const> blocked,
                                             TimePoint now) {
  std::vector<PreemptDecision> decisions;
  // Cheap exit, the common case: nothing could ever be a victim.
  const bool any_candidate =
      std::any_of(cluster.running.begin(), cluster.running.end(),
                  [](const RunningAllocation& r) { return r.preemptible && !r.stopping; });
  if (!any_candidate) return decisions;
  std::map<std::string, std::size_t> node_index;
  for (std::size_t i = 0; i < working_nodes.size(); ++i) node_index[working_nodes[i].name] = i;
  std::set<model::JobId> taken;  // victims of earlier preemptors in this cycle
  std::set<Likeness> failed;
  const Trial trial(working_nodes, quota, node_index);

  for (const PendingJob* job : blocked) {
    if (job->victims_stopping) continue;
    const bool reclaim = WithinNominal(cluster, quota, *job);
    const Likeness likeness{job->num_nodes,
                            job->per_node.cpu_milli,
                            job->per_node.memory_bytes,
                            job->per_node.gpus,
                            job->gpu_model,
                            job->exclusive,
                            job->pools,
                            job->topology,
                            job->queue,
                            job->own_priority,
                            reclaim};
    if (failed.count(likeness)) continue;
    const model::QueueConfig* own_queue = FindQueue(cluster, job->queue);
    std::vector<Candidate> candidates;
    for (const RunningAllocation& running : cluster.running) {
      if (!running.preemptible || running.stopping || taken.count(running.job_id)) continue;
      const bool by_priority = running.priority < job->own_priority;
      bool by_reclaim = false;
      if (reclaim && !by_priority && running.queue != job->queue) {
        const model::QueueConfig* peer = FindQueue(cluster, running.queue);
        by_reclaim = peer && own_queue && peer->cohort == own_queue->cohort &&
                     BorrowsWhatJobNeeds(quota, running.queue, *job);
      }
      if (by_priority || by_reclaim) {
        candidates.push_back({&running, LostWork(running, now), !by_priority});
      }
    }
    std::vector<const RunningAllocation*> all;
    for (const Candidate& c : candidates) all.push_back(c.running);
    if (candidates.empty() || !trial.Fits(*job, placer, all)) {
      failed.insert(likeness);
      continue;
    }
    std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
      if (a.lost_work != b.lost_work) return a.lost_work < b.lost_work;
      return a.running->job_id > b.running->job_id;
    });
    // Greedy: least lost work first, until the job fits. A peer stops being a reclaim
    // candidate once the victims already chosen bring it back within its nominal quota.
    std::vector<const RunningAllocation*> victims;
    QuotaLedger after = quota;
    bool fits = false;
    for (const Candidate& c : candidates) {
      if (c.reclaim_only && !BorrowsWhatJobNeeds(after, c.running->queue, *job)) continue;
      victims.push_back(c.running);
      after.Refund(c.running->queue, Total(*c.running));
      if (trial.Fits(*job, placer, victims)) {
        fits = true;
        break;
      }
    }
    if (!fits) {
      failed.insert(likeness);
      continue;
    }
    // Reverse pass: keep only the victims the job needs, sparing the most lost work first.
    for (std::size_t i = victims.size(); i-- > 0;) {
      std::vector<const RunningAllocation*> without = victims;
      without.erase(without.begin() + static_cast<std::ptrdiff_t>(i));
      if (trial.Fits(*job, placer, without)) victims = std::move(without);
    }
    PreemptDecision decision{job->id, {}};
    for (const RunningAllocation* victim : victims) {
      taken.insert(victim->job_id);
      decision.victims.push_back(victim->job_id);
    }
    decisions.push_back(std::move(decision));
    // Taking victims only removes candidates: what failed before still fails.
  }
  return decisions;
}

}  // namespace weft::sched
