// Per-attempt accounting: what one run of a job used, from its allocation and the usage its
// agents reported (`weft history`, sacct's job steps in spirit). Pure functions.
#pragma once

#include "common/clock.h"
#include "model/job.h"

namespace weft::controller {

// The record of the attempt `job` is ending now (its last rank has exited). `requeued_as`:
// how the attempt counts when the job itself is not final (PREEMPTED, NODE_FAIL): it runs
// again. Elapsed runs from the attempt's start to the last rank's end (`now` when no rank
// reported one); GPU time is the GPUs allocated times that. REQUIRES: job.start_time.
model::AttemptRecord EndAttempt(const model::Job& job, TimePoint now, model::JobState requeued_as);

// Usage of a job's current attempt summed over its ranks (CPU time added, the largest peak
// and limit, mean GPU utilization of the ranks that measured one); nullopt when no rank
// reported any.
std::optional<model::TaskUsage> JobUsage(const model::Job& job);

}  // namespace weft::controller
