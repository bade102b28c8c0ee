// Pure scheduling library: same inputs → same decisions. No I/O, no threads, no clock reads
// (`now` is an input). The controller and the simulator both call RunCycle.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/job.h"
#include "model/queue.h"
#include "sched/plugins.h"
#include "sched/preemption.h"
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

// A blocked job's place in the plan: it is expected to start at `start` on `nodes` (all its
// ranks, distinct nodes, the same start), and no job started now may delay that.
struct Reservation {
  model::JobId job_id = 0;
  TimePoint start{};
  std::vector<std::string> nodes;  // rank i on nodes[i]
};

struct CycleResult {
  std::vector<StartDecision> starts;
  std::vector<Reservation> reservations;     // in queue order; at most reservation_depth
  std::vector<PendingReason> still_pending;  // every job not started (reserved ones too)
  // Running jobs to stop so that a blocked job can start later (sched/preemption.h). The
  // preemptors are among `still_pending`: none starts in the cycle that preempts for it.
  std::vector<PreemptDecision> preemptions;
};

// The plugin set a scheduler runs with.
struct Profile {
  std::unique_ptr<QueueOrderPolicy> queue_order;
  std::vector<std::unique_ptr<FilterPlugin>> filters;
  std::vector<std::unique_ptr<ScorePlugin>> scorers;
  // Backfill as one policy (Flux): how many blocked jobs, in queue order, get a reservation.
  // 0: strict priority order, a job that cannot start holds back every job behind it;
  // 1: EASY, the top blocked job is protected; large: conservative, every one is.
  int reservation_depth = 1;
};

// The default profile: priority order, availability and resource filters, best fit, EASY.
Profile DefaultProfile();
// The default profile with the configured backfill: none → depth 0 (strict order),
// easy → 1, conservative → every blocked job is reserved.
Profile ProfileFor(const model::SchedulerConfig& config);

class Scheduler {
 public:
  explicit Scheduler(Profile profile);

  // One cycle: consider jobs in queue order and start every one whose gang fits now, all
  // ranks on distinct nodes or none, unless it would delay a reservation: a job runs for its
  // time limit (none = for ever), and may not overlap capacity reserved for a job ahead of
  // it. A job that cannot start gets a reservation (the earliest start of all its ranks,
  // given the running jobs' expected ends) while fewer than `reservation_depth` exist.
  // With depth >= 1 a job that cannot start never blocks later jobs that fit now and end
  // before the reservations they touch (or use other nodes); with depth 0 it blocks all.
  // Jobs with a preemption hold go first; blocked jobs may then preempt (preemption.h).
  CycleResult RunCycle(const ClusterSnapshot& cluster, std::span<const PendingJob> pending,
                       TimePoint now) const;

  // Whether the job could ever run on this cluster if it were empty: Success, or
  // Unresolvable with a sentence saying why (for rejecting a submission).
  Verdict CheckFeasible(const PendingJob& job, const ClusterSnapshot& cluster) const;

 private:
  Profile profile_;
};

}  // namespace weft::sched
