// The interface through which the controller drives a pool whose nodes are not Weft's own
// agents (a Slurm cluster today): submit a job's attempt, poll the state of what it runs,
// cancel, list the pool's nodes, re-attach jobs after a restart.
//
// Threading contract: every method is called on the controller's loop thread and returns at
// once; the work (which may block on external commands) runs elsewhere, and each `done`
// callback is posted back to that same loop, never run on the caller's stack. Calls on one
// backend are carried out in the order they were made.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "model/job.h"
#include "model/node.h"

namespace weft::backend {

// A change in a job the backend runs, since the previous Poll.
struct BackendJobUpdate {
  model::JobId job = 0;
  std::string backend_id;  // e.g. the Slurm job id
  model::JobState state = model::JobState::kPending;
  int exit_code = 0;
  int exit_signal = 0;
  std::string reason;              // the backend's words, e.g. "Slurm job 7: TIMEOUT (TimeLimit)"
  std::vector<std::string> nodes;  // rank order, once placed
};

// The pool's nodes as the backend reports them, or why the pool cannot be used now.
struct PoolNodes {
  std::vector<model::Node> nodes;
  std::vector<model::Resources> idle;  // per node, in order: what the backend has not allocated
  std::string unavailable_reason;  // "" = usable
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const std::string& pool() const = 0;
  // Submits the job's current attempt (job.restart_count); the backend's id for it. An error
  // is one sentence; IsPoolLevel tells a pool that cannot be used from a refused job.
  virtual void Submit(model::Job job, std::function<void(Result<std::string>)> done) = 0;
  // The changes of every job submitted or adopted since the last Poll; final ones once.
  virtual void Poll(std::function<void(Result<std::vector<BackendJobUpdate>>)> done) = 0;
  // Cancels the job's attempt (idempotent); its final state arrives through Poll. With
  // `only_pending`, only while the backend still has it queued (a job that started meanwhile
  // runs on, and its updates say so).
  virtual void Cancel(model::JobId job, bool only_pending, std::function<void(Result<>)> done) = 0;
  virtual void Nodes(std::function<void(PoolNodes)> done) = 0;
  // After a restart: tracks a job submitted earlier, by the backend's id for it.
  virtual void Adopt(model::JobId job, std::string backend_id) = 0;
  // After a restart, for a job whose submission was intended but whose id was never
  // recorded: the id of the backend's job for (job, attempt), "" when it has none (then the
  // submission never happened and may be made). A found job is tracked as by Adopt.
  virtual void Find(model::JobId job, int attempt, std::function<void(Result<std::string>)> done) = 0;
};

}  // namespace weft::backend
