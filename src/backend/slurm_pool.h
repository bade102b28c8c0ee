// One Slurm pool as the controller will drive it: submits Weft jobs (translate + sbatch),
// remembers which Slurm job runs each Weft job, turns squeue/sacct answers into state changes,
// cancels, lists the pool's nodes, and knows whether the pool is usable (and why not).
// Not thread-safe, and every call may block for as long as a Slurm command runs: the
// controller owns one per pool and calls it from a worker thread, never its loop thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/slurm_client.h"
#include "model/job.h"
#include "model/node.h"

namespace weft::backend {

// "n[1-3,5],gpu-a,x[01-02]" → n1 n2 n3 n5 gpu-a x01 x02 (zero padding kept).
std::vector<std::string> ExpandHostlist(std::string_view hostlist);

struct SlurmJobUpdate {
  model::JobId job = 0;
  std::string slurm_id;
  model::JobState state = model::JobState::kPending;
  int exit_code = 0;
  int exit_signal = 0;
  std::string reason;              // e.g. "Slurm job 7: TIMEOUT (TimeLimit)"
  std::vector<std::string> nodes;  // rank order, once Slurm has placed it
};

class SlurmPool {
 public:
  // Polls in a row a job may be missing from Slurm's answers before it is reported FAILED.
  static constexpr int kMissingPolls = 3;

  SlurmPool(SlurmPoolConfig config, std::unique_ptr<SlurmClient> client);

  const SlurmPoolConfig& config() const { return config_; }
  // Usable as of the last call that reached Slurm; else the one-sentence reason.
  bool available() const { return unavailable_reason_.empty(); }
  const std::string& unavailable_reason() const { return unavailable_reason_; }

  // Check + sinfo: the pool's nodes (as model::Node of this pool); marks the pool unavailable
  // (and returns the error) when Slurm cannot be used.
  // With `idle`, also what Slurm has not allocated on each node (IdleResources), in order.
  Result<std::vector<model::Node>> RefreshNodes(std::vector<model::Resources>* idle = nullptr);
  // Submits the job's current attempt; the Slurm job id. A pool-level error (commands
  // missing, controller down, bad partition) also marks the pool unavailable.
  Result<std::string> Submit(const model::Job& job);
  // Tracks a Slurm job submitted earlier (after a restart, from the job's record).
  void Adopt(model::JobId job, std::string slurm_id);
  // After a restart, for a submission whose Slurm id was never recorded: the Slurm job whose
  // comment names (job, attempt) (see TranslateToSbatch), tracked as by Adopt; "" when Slurm
  // shows none.
  Result<std::string> Find(model::JobId job, int attempt);
  // The Slurm job running `job`, "" when none is tracked.
  std::string SlurmId(model::JobId job) const;
  // Queries every tracked job; returns the ones whose state, reason or nodes changed since
  // the last poll. Final jobs are reported once and then forgotten.
  Result<std::vector<SlurmJobUpdate>> Poll();
  // scancel of the job's Slurm job; the CANCELLED state arrives through Poll.
  Result<void> Cancel(model::JobId job, bool only_pending = false);

 private:
  struct Tracked {
    std::string slurm_id;
    std::optional<SlurmJobUpdate> last;  // as last reported
    int missing = 0;
  };
  void Note(const Error& error);

  SlurmPoolConfig config_;
  std::unique_ptr<SlurmClient> client_;
  std::map<model::JobId, Tracked> jobs_;
  std::string unavailable_reason_;
};

// A pool-level failure (the pool cannot be used until fixed) rather than a refusal of one job.
bool IsPoolError(const Error& error);

}  // namespace weft::backend
