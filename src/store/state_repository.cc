#include "store/state_repository.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/strings.h"
#include "model/json.h"

namespace weft::store {

WriteOp PutJob(const model::Job& job) {
  return {fmt::format("job/{:020}", job.id), nlohmann::json(job).dump()};
}

WriteOp PutNode(const model::Node& node) {
  return {"node/" + node.name, nlohmann::json(node).dump()};
}

WriteOp PutNextJobId(model::JobId next) { return {"meta/next_job_id", std::to_string(next)}; }

Result<DurableState> LoadState(const KvStore& store) {
  DurableState state;
  auto jobs = store.List("job/");
  if (!jobs) return tl::unexpected(jobs.error());
  for (const auto& [key, value] : *jobs) {
    auto json = model::ParseJson(value);
    if (!json) return Fail(ErrorCode::kInternal, fmt::format("record {} is not JSON", key));
    auto job = model::JobFromJson(*json);
    if (!job) return Fail(ErrorCode::kInternal, fmt::format("record {}: {}", key, job.error().message));
    state.next_job_id = std::max(state.next_job_id, job->id + 1);
    state.jobs.push_back(std::move(*job));
  }
  auto nodes = store.List("node/");
  if (!nodes) return tl::unexpected(nodes.error());
  for (const auto& [key, value] : *nodes) {
    auto json = model::ParseJson(value);
    if (!json) return Fail(ErrorCode::kInternal, fmt::format("record {} is not JSON", key));
    auto node = model::NodeFromJson(*json);
    if (!node) return Fail(ErrorCode::kInternal, fmt::format("record {}: {}", key, node.error().message));
    state.nodes.push_back(std::move(*node));
  }
  auto next = store.Get("meta/next_job_id");
  if (!next) return tl::unexpected(next.error());
  if (next->has_value()) {
    if (auto n = ParseInt(**next)) state.next_job_id = std::max<model::JobId>(state.next_job_id, *n);
  }
  return state;
}

}  // namespace weft::store
