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
// returns one outcome per job, in trace order.
Result<std::vector<JobOutcome>> RunResearchReplay(const Trace& trace, const ResearchCluster& cluster,
                                                  ResearchPolicy policy);

}  // namespace weft::sim
