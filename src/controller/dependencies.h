// Job dependencies (sbatch --dependency): whether a pending job may start, must keep waiting,
// or can never start. Pure: the controller supplies what it knows of the referenced jobs.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "model/job.h"

namespace weft::controller {

// What the evaluator needs to know of one referenced job.
struct DependencyTarget {
  model::JobId id = 0;
  model::JobState state = model::JobState::kPending;
  bool started = false;     // has run at least once (a requeued job is PENDING again)
  int array_task_id = -1;   // the task's index when the reference named a whole array
};

// The jobs one referenced id stands for: the job itself, or every task of the array whose
// array job id it is. Empty when no such job exists.
using TargetLookup = std::function<std::vector<DependencyTarget>(model::JobId)>;

enum class DependencyStatus { kSatisfied, kWaiting, kNeverSatisfied };

struct DependencyVerdict {
  DependencyStatus status = DependencyStatus::kSatisfied;
  // For kNeverSatisfied: "afterok:12 ended FAILED" (several joined with "; "). Else empty.
  std::string reason;
};

// Evaluates `dependency`: with ',' every condition must hold (one that can never hold decides
// kNeverSatisfied), with '?' one suffices (kNeverSatisfied only when none can hold). Each
// job named by a term is one condition; an array stands for all of its tasks:
//   after      satisfied once the job started or ended (a cancelled pending job counts)
//   afterany   satisfied once it ended
//   afterok    satisfied when it COMPLETED; never when it ended in any other state
//   afternotok satisfied when it ended other than COMPLETED; never when it COMPLETED
//   singleton  satisfied unless `singleton_blocked` (another job of the same name and user
//              is running)
// An id the lookup does not know can never be satisfied. An empty dependency is satisfied.
DependencyVerdict EvaluateDependency(const model::Dependency& dependency,
                                     const TargetLookup& lookup, bool singleton_blocked);

// True when `dependency` has a term that waits for a job to start (after:), so starting a
// job may release it.
bool WaitsForStart(const model::Dependency& dependency);

}  // namespace weft::controller
