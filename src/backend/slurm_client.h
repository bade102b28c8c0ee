// Talking to a Slurm cluster through its client commands (sbatch, squeue, sacct, scancel,
// sinfo): the SlurmClient interface, its command-running implementation, and the parsers of
// the commands' machine-readable output (public for tests).
//
// Every failure is one sentence a user can act on, and says whether the pool as a whole is
// unusable (kUnavailable / kFailedPrecondition: commands missing, controller or munge down,
// bad partition or account) or only this request was refused (kInvalidArgument).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/command_runner.h"
#include "backend/slurm_config.h"
#include "backend/slurm_states.h"
#include "backend/slurm_translate.h"
#include "common/error.h"
#include "model/node.h"

namespace weft::backend {

// One node as sinfo reports it.
struct SlurmNode {
  std::string name;
  int cpus = 0;
  int cpus_allocated = 0;
  std::int64_t memory_bytes = 0;
  int gpus = 0;
  std::string gpu_model;  // the first typed GPU GRES ("a100"), "" when untyped
  std::string state;      // sinfo's long state, e.g. "idle", "mixed", "down*", "drained"
  std::string reason;     // why down or drained, "" = none
  // Schedulable: not down, drained, draining, failing or not responding ('*').
  bool available() const;
};

// A Slurm node as a Weft node of `pool` (address = the node name, as Slurm scripts use it).
model::Node ToModelNode(const SlurmNode& node, const std::string& pool);
// What Slurm has not allocated on the node, as far as sinfo tells: its idle CPUs; its GPUs
// and memory while none of its CPUs is allocated, else memory in proportion to the idle
// CPUs and no GPU (sinfo's short format does not say which GRES are in use). Nothing on an
// unavailable or draining node. An estimate for routing: Slurm has the final say.
model::Resources IdleResources(const SlurmNode& node);

class SlurmClient {
 public:
  virtual ~SlurmClient() = default;
  // sbatch: the Slurm job id.
  virtual Result<std::string> Submit(const SbatchRequest& request) = 0;
  // The status of each id Slurm still knows (squeue, then sacct for the ones squeue forgot);
  // ids neither knows are absent from the map.
  virtual Result<std::map<std::string, SlurmJobStatus>> Query(const std::vector<std::string>& ids) = 0;
  // scancel; cancelling a job that already ended succeeds.
  // scancel; with `only_pending`, only while Slurm still has it queued (scancel
  // --state=PENDING): a job that started meanwhile keeps running.
  virtual Result<void> Cancel(const std::string& id, bool only_pending) = 0;
  // sinfo: the nodes of the pool's partition (every node when no partition is configured).
  virtual Result<std::vector<SlurmNode>> Nodes() = 0;
  // The pool is usable: the commands exist, the controller answers, the partition exists.
  virtual Result<void> Check() = 0;
  // The id of a job Slurm still shows (squeue) whose comment is exactly `comment`, "" when
  // none is. Used after a restart to find a submission whose id was never recorded.
  // Implementations that cannot search answer kUnimplemented (never "" by default: "" lets
  // the caller submit again).
  virtual Result<std::string> FindByComment(const std::string& /*comment*/) {
    return Fail(ErrorCode::kUnimplemented, "this Slurm client cannot search jobs by comment");
  }
};

// Runs the real commands from config.bin_dir (SLURM_CONF = config.conf when set).
std::unique_ptr<SlurmClient> MakeCommandSlurmClient(SlurmPoolConfig config);

// ---- parsers and error mapping (exposed for tests) ----

// squeue -h -O "JobID:|,State:|,Reason:|,exit_code:|,NodeList:|" lines.
std::map<std::string, SlurmJobStatus> ParseSqueue(std::string_view output);
// sacct -n -P -X -o JobID,State,ExitCode,NodeList lines (the last record of an id wins).
std::map<std::string, SlurmJobStatus> ParseSacct(std::string_view output);
// sinfo -N -h -o "%N|%c|%m|%G|%T|%C|%E" lines; a node listed once per partition is merged.
std::vector<SlurmNode> ParseSinfo(std::string_view output);
// GRES as sinfo prints it ("gpu:4", "gpu:a100:2(S:0-1),gpu:v100:1", "(null)") → count, model.
std::pair<int, std::string> ParseGpuGres(std::string_view gres);
// sbatch --parsable's output: "123" or "123;cluster" → "123".
std::optional<std::string> ParseSbatchId(std::string_view output);
// The one-sentence error for a command that did not succeed.
Error SlurmCommandError(std::string_view command, const SlurmPoolConfig& config,
                        const CommandOutcome& outcome);

}  // namespace weft::backend
