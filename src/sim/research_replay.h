// Research policies (SRTF, SRSF, Tiresias-L) replayed with the exact event semantics of the
// Muri/Tiresias simulator (../shared/traces/philly-muri/README.md, "Exact semantics needed to
// reproduce"): at every event the whole allocation is recomputed from an empty cluster and any
// running job may be preempted. They exist to prove the simulator faithful against published
// numbers, not to run in production.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "sim/trace.h"

namespace weft::sim {

enum class ResearchPolicy { kSrtf, kSrsf, kTiresiasL };
// "srtf", "srsf", "tiresias-l"; nullopt for anything else.
std::optional<ResearchPolicy> ParseResearchPolicy(std::string_view name);

struct ResearchCluster {
  int nodes = 8;
  int gpus_per_node = 8;
};

// Replays `trace` (which needs the Muri columns: model, iterations, iteration_time_ms) and
// returns one outcome per job, in trace order, with first_start_s, end_s, preemptions and
// run_s (wall time held, restart overheads included) filled. Deterministic and fast (the
// 5,755-job trace2_pr, all jobs runnable from t = 0, replays in well under a second).
//
// To reproduce the published numbers bit for bit, submit_s must be the file's milliseconds
// divided by 1000.0 (as trace_reader does); durations are ignored: run time comes from
// iterations x iteration_time_ms x 1.015.
//
// kInvalidArgument (one sentence naming the job) when a job lacks iterations or iteration
// time, or can never fit the cluster (SRTF/SRSF place gangs on nodes: more than
// gpus_per_node GPUs need whole nodes; Tiresias-L only counts GPUs).
Result<std::vector<JobOutcome>> RunResearchReplay(const Trace& trace, const ResearchCluster& cluster,
                                                  ResearchPolicy policy);

}  // namespace weft::sim
