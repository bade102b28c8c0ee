// Preemption: which running jobs to stop so that a blocked pending job can start. Pure, like
// the rest of the scheduler; Scheduler::RunCycle calls it after placing what fits.
//
// Promises (docs/architecture.md, "Preemption"):
// - A job not marked preemptible is never chosen (Slurm's promise: an allocation nobody takes
//   away). So a non-preemptible borrower of lent quota keeps running, and the lender's job
//   waits for it (reason QuotaExceeded or Resources).
// - Priority: a pending job may preempt running preemptible jobs of lower own priority
//   (--priority minus --nice, in any queue). The multifactor priority is not compared: its age
//   and fair-share terms drift every cycle and would make jobs preempt each other back and forth.
// - Reclaim: a pending job of queue Q that stays within Q's nominal quota (Q has a cohort) may
//   preempt preemptible jobs of cohort peers that use more than their own nominal quota in a
//   resource the job asks for, whatever their priority.
// - Either way the preemptor must then fit: its quota admits it and its gang places, with the
//   victims' resources (every rank of a gang) given back.
// - Least lost work: a victim loses (now - its start) × its GPUs (its CPUs when it has no
//   GPUs). Candidates go in ascending lost work (ties: the higher job id, the newest, first) and
//   are added until the preemptor fits; then, newest-added first, every victim the preemptor
//   fits without is dropped. Deterministic.
// - Jobs already stopping are never chosen again; a job whose victims are still stopping plans
//   no new preemption (PendingJob::victims_stopping). The preemptor does not start in the
//   cycle that preempts: its victims must exit first. The controller then marks it
//   `preemption_hold`, which RunCycle honours with HoldersFirst and QuotaAfterStops.
#pragma once

#include <span>
#include <vector>

#include "common/clock.h"
#include "model/job.h"
#include "sched/gang_placer.h"
#include "sched/quota.h"
#include "sched/snapshot.h"

namespace weft::sched {

struct PreemptDecision {
  model::JobId preemptor = 0;
  std::vector<model::JobId> victims;  // ascending lost work
  bool operator==(const PreemptDecision&) const = default;
};

// The work a preemption of `running` would lose at `now`: seconds run × GPUs held (CPUs, in
// whole cores rounded up, when it holds no GPU).
double LostWork(const RunningAllocation& running, TimePoint now);

// Moves the jobs with a preemption hold to the front, keeping the order within each part.
void HoldersFirst(std::vector<const PendingJob*>& order);

// `quota` with what stopping jobs hold given back: the ledger a holder is admitted by (what
// its victims hold is its own, even before they have exited).
QuotaLedger QuotaAfterStops(const QuotaLedger& quota, const ClusterSnapshot& cluster);

// For each job of `blocked` (in queue order: jobs this cycle did not start), chooses victims
// among `cluster.running` as above, each victim for at most one preemptor. `cluster`: the
// cycle's snapshot (its running jobs and queues; its nodes are not read); `working_nodes`:
// its nodes after this cycle's starts; `quota`: the ledger after them. Jobs with
// `victims_stopping` are skipped. (The nodes come apart so that a cycle need not copy the
// running jobs it never changes.)
std::vector<PreemptDecision> PlanPreemptions(const ClusterSnapshot& cluster,
                                             const WorkingNodes& working_nodes,
                                             const QuotaLedger& quota, const GangPlacer& placer,
                                             std::span<const PendingJob* const> blocked,
                                             TimePoint now);

}  // namespace weft::sched
