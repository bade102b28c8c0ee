#include "store/state_repository.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/strings.h"
#include "model/json.h"

namespace weft::store {

WriteOp PutJob(const model::Job& job) {
  return {fmt::format("job/{:020}", job.id), model::EncodeJob(job)};  // = json(job).dump()
}

WriteOp PutNode(const model::Node& node) {
  return {"node/" + node.name, nlohmann::json(node).dump()};
}

WriteOp PutUser(const model::User& user) {
  return {"user/" + user.name, nlohmann::json(user).dump()};
}

WriteOp PutNextJobId(model::JobId next) { return {"meta/next_job_id", std::to_string(next)}; }

namespace {

// Decodes every record under `prefix` with `decode` (a model::*FromJson function).
template <class T, class Decoder>
Result<std::vector<T>> DecodeAll(const KvStore& store, std::string_view prefix, Decoder decode) {
  auto records = store.List(prefix);
  if (!records) return tl::unexpected(records.error());
  std::vector<T> out;
  for (const auto& [key, value] : *records) {
    auto json = model::ParseJson(value);
    if (!json) return Fail(ErrorCode::kInternal, fmt::format("record {} is not JSON", key));
    auto item = decode(*json);
    if (!item) return Fail(ErrorCode::kInternal, fmt::format("record {}: {}", key, item.error().message));
    out.push_back(std::move(*item));
  }
  return out;
}

}  // namespace

Result<DurableState> LoadState(const KvStore& store) {
  DurableState state;
  auto jobs = DecodeAll<model::Job>(store, "job/", model::JobFromJson);
  if (!jobs) return tl::unexpected(jobs.error());
  state.jobs = std::move(*jobs);
  for (const model::Job& job : state.jobs) state.next_job_id = std::max(state.next_job_id, job.id + 1);
  auto nodes = DecodeAll<model::Node>(store, "node/", model::NodeFromJson);
  if (!nodes) return tl::unexpected(nodes.error());
  state.nodes = std::move(*nodes);
  auto users = DecodeAll<model::User>(store, "user/", model::UserFromJson);
  if (!users) return tl::unexpected(users.error());
  state.users = std::move(*users);
  auto next = store.Get("meta/next_job_id");
  if (!next) return tl::unexpected(next.error());
  if (next->has_value()) {
    if (auto n = ParseInt(**next)) state.next_job_id = std::max<model::JobId>(state.next_job_id, *n);
  }
  return state;
}

}  // namespace weft::store
