// The REST API's JSON views of jobs and nodes: stable field names that `-o json` users and
// the dashboard depend on. Full records (script, environment) only where asked for.
#pragma once

#include <nlohmann/json.hpp>

#include "controller/controller.h"
#include "model/job.h"

namespace weft::api {

// Summary for listings: no script, no environment.
nlohmann::json JobSummary(const model::Job& job);
// Everything `weft show` prints: the summary plus spec, ranks and their exits.
nlohmann::json JobDetail(const model::Job& job);
nlohmann::json NodeView(const controller::NodeStatus& status);
// Quota values are null where unlimited.
nlohmann::json QueueView(const controller::QueueStatus& status);

}  // namespace weft::api
