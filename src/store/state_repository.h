// Typed layer over KvStore: the keys and encodings of the controller's durable state.
// Writes are returned as WriteOps so the caller can group them into one commit.
#pragma once

#include <vector>

#include "model/job.h"
#include "model/node.h"
#include "model/user.h"
#include "store/kv_store.h"

namespace weft::store {

// Keys: "job/<20-digit id>" (ordered numerically), "node/<name>", "user/<name>",
// "meta/next_job_id".
WriteOp PutJob(const model::Job& job);
WriteOp PutNode(const model::Node& node);
WriteOp PutNextJobId(model::JobId next);
WriteOp PutUser(const model::User& user);

struct DurableState {
  std::vector<model::Job> jobs;  // ordered by id
  std::vector<model::Node> nodes;
  std::vector<model::User> users;  // revoked ones included
  model::JobId next_job_id = 1;
};

// Reads everything back; fails with kInternal naming the first undecodable record.
Result<DurableState> LoadState(const KvStore& store);

}  // namespace weft::store
