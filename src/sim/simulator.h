// Replays a trace through the production control plane on a simulated clock: the real
// controller::Controller (scheduler, fair share, quotas, backfill) on a SimulatedEventLoop
// with an in-memory store, driven by simulated agents that speak the agents' level-triggered
// protocol (ReportNode / WatchNode). Only the processes are simulated: a task "runs" from the
// moment its node sees the assignment until start + the trace duration (exit 0), or until its
// time limit (timed out), or until it vanishes from the node's assignments (killed by the
// agent: cancel or preemption). Single-threaded and deterministic: the same inputs give the
// same decisions, event for event.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "model/queue.h"
#include "sim/trace.h"

namespace weft::sim {

// What a production scheduler is told about run times: only a user's time limit, never the
// true duration. kHour (the default) models a user who rounds the true duration up to a
// whole hour; kHourX2 one who asks for twice that; kExact the duration itself; kNone no limit
// (then backfill cannot plan around running jobs; see src/sched/README.md).
enum class TimeLimitModel { kNone, kExact, kHour, kHourX2 };
// "none", "exact", "hour", "hour-x2"; false for anything else.
bool ParseTimeLimitModel(std::string_view text, TimeLimitModel& out);

struct SimulationOptions {
  int nodes = 0;
  int gpus_per_node = 0;
  // Queues and scheduler settings, exactly as `weft server --config` passes them.
  model::ClusterConfig config;
  TimeLimitModel time_limits = TimeLimitModel::kHour;
  // Nodes per `switch` label value, switches per `rack` (topology-aware packing sees them).
  int nodes_per_switch = 32;
  int switches_per_rack = 4;
};

struct SimulationResult {
  std::vector<JobOutcome> outcomes;  // one per trace job, in trace order
  // Decision log, one line per event, in event order: "<time_s> start|end|stop <job id>
  // <node,...> [state]" (see src/sim/README.md). Job ids are the trace's.
  std::vector<std::string> decisions;
};

// A job of g GPUs on nodes of G GPUs: g <= G → one node with g GPUs; g > G → ceil(g/G)
// nodes with G GPUs each (the traces' large jobs are multiples of G; others round up).
struct GangShape {
  int num_nodes = 1;
  int gpus_per_node = 1;
};
GangShape ShapeFor(int num_gpus, int gpus_per_node);

// Fails (kInvalidArgument, one sentence) when the cluster is empty, a job could never fit,
// or the controller refuses a job (e.g. its trace queue is not configured).
Result<SimulationResult> RunSimulation(const Trace& trace, const SimulationOptions& options);

}  // namespace weft::sim
