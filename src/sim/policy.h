// What `weft simulate --policy/--config/--queues-from-trace/--queue-weights` mean: the policy
// names and the cluster configuration a replay runs with. Pure.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "model/queue.h"
#include "sim/research_replay.h"
#include "sim/trace.h"

namespace weft::sim {

// A policy name: a production one (the server's scheduler with a backfill mode, replayed
// through the controller) or a research one (RunResearchReplay).
struct PolicyChoice {
  std::string name;
  std::optional<model::BackfillMode> backfill;  // production: easy | conservative | fifo (none)
  // fifo is strict submit order: backfill none and no short-time-limit priority factor.
  std::optional<double> short_job_weight;
  std::optional<ResearchPolicy> research;       // srtf | srsf | tiresias-l
};
// nullopt for an unknown name.
std::optional<PolicyChoice> ParsePolicy(std::string_view name);
// The production policy name of a backfill mode: "easy", "conservative", "fifo".
std::string_view PolicyName(model::BackfillMode backfill);

// "vc,node num"-style CSV (philly_vc_nodes_helios.csv): a header, then `queue,weight` rows.
// Errors name the source, line and column.
Result<std::map<std::string, double>> ParseQueueWeights(std::string_view text, std::string_view source);

// Adds one queue per distinct trace queue that `config` lacks (weight from `weights`, else 1,
// no quota), and "default" when some job has no queue and it is missing. The added queues
// follow those already configured, sorted by name. Weights also override the weight of
// queues the configuration already has.
void AddTraceQueues(const Trace& trace, const std::map<std::string, double>& weights,
                    model::ClusterConfig& config);

}  // namespace weft::sim
