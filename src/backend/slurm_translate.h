// A Weft job → one sbatch submission: the options, the batch script fed to sbatch on stdin,
// and sbatch's environment. Pure functions (no I/O).
//
// Decisions (docs/architecture.md, "Slurm backend"):
// - Weft's resolved values are passed as sbatch options. The script's own #SBATCH lines are
//   copied to the top of the batch script so that Slurm-only options Weft does not model
//   (--constraint, --qos, --mail-user, --time-min, ...) still apply; the options Weft has
//   resolved (nodes, tasks, CPUs, memory in any form, GPUs in any form, time, name, exclusive,
//   signal, comment: sbatch refuses --mem-per-cpu next to --mem, and adds --gpus-per-node to
//   --gres) and those whose meaning is Weft's (-p pool, -A queue, --array, --dependency, -o/-e
//   with Weft's %j, --chdir, --export, -W/--wait, --parsable, --requeue) are dropped from them.
// - The batch script is a bash wrapper: #SBATCH lines, a preamble that exports the WEFT_*
//   variables (node list from `scontrol show hostnames $SLURM_JOB_NODELIST`), then the user's
//   script verbatim in a quoted here-document on fd 9, run by its own #! interpreter as
//   `/dev/fd/9` with its arguments (exec: the script is the batch shell, so signals such as
//   --signal=B:... reach it). Any interpreter works, nothing is written to disk.
// - Slurm runs the batch script once, on the first node (WEFT_NODE_RANK=0 there), and the
//   script fans out with srun as Slurm users expect. For multi-node jobs the wrapper writes a
//   task prolog (`<work dir>/.weft/slurm-task-prolog-<weft id>.sh`, on the shared file system
//   like the output files) and exports SLURM_TASK_PROLOG, so every srun task gets its own
//   WEFT_NODE_RANK and NODE_RANK (= SLURM_NODEID).
// - The environment: sbatch runs with the job's recorded environment (spec.env, without
//   SLURM_* and SBATCH_* which would change the submission) and --export=ALL, so the job
//   sees what the user submitted with, never the Weft server's own environment.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "backend/slurm_config.h"
#include "common/clock.h"
#include "common/error.h"
#include "model/job.h"

namespace weft::backend {

struct SbatchRequest {
  std::vector<std::string> args;           // sbatch's options (no program name, no script path)
  std::string script;                      // the batch script, fed on stdin
  std::map<std::string, std::string> env;  // sbatch's whole environment (SLURM_CONF is the client's)
};

// The submission of `job`'s current attempt (restart_count) to `pool`.
Result<SbatchRequest> TranslateToSbatch(const model::Job& job, const SlurmPoolConfig& pool);

// A time limit as Slurm's "D-HH:MM:SS", rounded up to whole minutes (Slurm's granularity) and
// at least one minute.
std::string FormatSlurmTime(Duration limit);

// The #SBATCH lines sbatch would honour in `script` (the leading comment block), without the
// options Weft resolves or gives its own meaning (exact option names; sbatch's unambiguous
// abbreviations such as --part are not recognised); lines left empty are dropped.
std::vector<std::string> PreservedDirectives(std::string_view script);

// An output/error file pattern in Slurm's syntax: %j, %J, %A, %a and %x become the Weft job's
// id, array ids and name (Slurm would put its own job id there); %N %n %t %u %s %% are kept
// for Slurm to expand.
std::string TranslateFilePattern(std::string_view pattern, const model::Job& job);

// The interpreter line of a script, as the kernel splits it: {"/usr/bin/env", "python3"};
// {"/bin/bash"} when the script has no #! line.
std::vector<std::string> Interpreter(std::string_view script);

}  // namespace weft::backend
