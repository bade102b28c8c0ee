// Parses the cluster configuration file (`weft server --config weft.yaml`): queues with quotas,
// fair-share weights, cohorts and borrowing limits, and scheduler settings. Pure.
#pragma once

#include <string_view>

#include "common/error.h"
#include "model/queue.h"

namespace weft::spec {

// Errors are one sentence naming the key: "queues[1].quota.gpus: 'lots' is not a count".
// Without a `queues` key there is one queue, "default", without quota.
Result<model::ClusterConfig> ParseClusterConfig(std::string_view yaml_text);

}  // namespace weft::spec
