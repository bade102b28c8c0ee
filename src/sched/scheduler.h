// Pure scheduling library: same inputs → same decisions. No I/O, no threads, no clock reads
// (`now` is an input). The controller and the simulator both call RunCycle.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/job.h"
#include "sched/plugins.h"
#include "sched/snapshot.h"

namespace weft::sched {

struct StartDecision {
  model::JobId job_id = 0;
  model::Allocation allocation;  // one entry per rank, on distinct nodes
};

// Why a job is still pending, in Slurm's vocabulary ("Resources", "Priority", ...).
struct PendingReason {
  model::JobId job_id = 0;
  std::string reason;
};

struct CycleResult {
  std::vector<StartDecision> starts;
  std::vector<PendingReason> still_pending;
};

// The plugin set a scheduler runs with.
struct Profile {
  std::unique_ptr<QueueOrderPolicy> queue_order;
  std::vector<std::unique_ptr<FilterPlugin>> filters;
  std::vector<std::unique_ptr<ScorePlugin>> scorers;
};

// The default profile: priority order, availability and resource filters, best fit.
Profile DefaultProfile();

class Scheduler {
 public:
  explicit Scheduler(Profile profile);

  // One cycle: consider jobs in queue order and start every one whose gang fits now, all
  // ranks on distinct nodes or none. A job that does not fit never blocks later jobs that
  // do (reservations for blocked jobs come with backfill).
  CycleResult RunCycle(const ClusterSnapshot& cluster, std::span<const PendingJob> pending,
                       TimePoint now) const;

  // Whether the job could ever run on this cluster if it were empty: Success, or
  // Unresolvable with a sentence saying why (for rejecting a submission).
  Verdict CheckFeasible(const PendingJob& job, const ClusterSnapshot& cluster) const;

 private:
  Profile profile_;
};

}  // namespace weft::sched
