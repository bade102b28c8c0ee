// The REST API's JSON views of jobs and nodes: stable field names that `-o json` users and
// the dashboard depend on. Full records (script, environment) only where asked for.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/controller.h"
#include "model/job.h"

namespace weft::api {

// Summary for listings: no script, no environment.
nlohmann::json JobSummary(const model::Job& job);
// Everything `weft show` prints: the summary plus spec, ranks and their exits.
nlohmann::json JobDetail(const model::Job& job);
nlohmann::json NodeView(const controller::NodeStatus& status);
// Which job holds each GPU slot of the node: an array of capacity.gpus entries, each a job id
// or null when free. `find` looks a job up by id (the controller's FindJob).
nlohmann::json GpuHolders(const controller::NodeStatus& status,
                          const std::function<const model::Job*(model::JobId)>& find);
// Quota values are null where unlimited.
nlohmann::json QueueView(const controller::QueueStatus& status);

// `weft history`: which attempts to show.
struct HistoryFilter {
  std::string user;   // "" = everyone's
  std::string queue;  // "" = every queue
  std::optional<TimePoint> since;  // attempts that ended (or run) at or after it
};
// One row per attempt of `job` that matches (sacct's rows): ended attempts from its record,
// plus the current one while it runs, with live usage. Elapsed and usage in seconds and bytes.
std::vector<nlohmann::json> HistoryRows(const model::Job& job, const HistoryFilter& filter, TimePoint now);

}  // namespace weft::api
