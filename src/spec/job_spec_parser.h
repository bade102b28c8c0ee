// Turns what a user writes — a batch script with #SBATCH/#WEFT directives, a YAML job file,
// a `weft run` command line — into a validated model::JobSpec. Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "model/job.h"
#include "model/task.h"

namespace weft::spec {

// Slurm time formats: "minutes", "minutes:seconds", "hours:minutes:seconds", "days-hours",
// "days-hours:minutes", "days-hours:minutes:seconds"; "0", "UNLIMITED", "INFINITE" mean no
// limit (nullopt). Also unit suffixes as YAML users write them: "90s", "30m", "48h", "2d".
Result<std::optional<Duration>> ParseTimeLimit(std::string_view text);

// Memory sizes, in bytes: "<n>[K|M|G|T|P]" with optional "B"/"iB" ("4G", "512M", "16Gi",
// "256GB"); a bare number is mebibytes (Slurm's --mem default unit).
Result<std::int64_t> ParseMemory(std::string_view text);

// Where and by whom a job is submitted.
struct SubmitContext {
  std::string submit_dir;                  // absolute
  std::map<std::string, std::string> env;  // submitter's environment, exported to the job
  std::string user;
};

// Options that only change what the CLI prints or waits for; they are accepted in
// directives and on the command line and reported here rather than in the spec.
struct ClientFlags {
  bool parsable = false;  // --parsable
  bool wait = false;      // -W / --wait
};

struct ParsedJob {
  model::JobSpec spec;
  ClientFlags flags;
  std::vector<std::string> warnings;  // tier-3 directives accepted and ignored, one line each
};

// A batch script: "#SBATCH" then "#WEFT" directives up to the first non-comment line, then
// `options` (command line; they override directives). REQUIRES the script to start with "#!".
Result<ParsedJob> ParseBatchScript(std::string_view script_text,
                                   const std::vector<std::string>& options,
                                   const std::vector<std::string>& script_args,
                                   const SubmitContext& context);

// DESIGN.md's YAML job spec; `options` override its fields.
Result<ParsedJob> ParseYamlJob(std::string_view yaml_text, const std::vector<std::string>& options,
                               const SubmitContext& context);

// `weft run [options] -- command...`: the command becomes a generated script.
Result<ParsedJob> ParseCommandJob(const std::vector<std::string>& options,
                                  const std::vector<std::string>& command,
                                  const SubmitContext& context);

// Splits `weft submit` arguments into the leading options (with their values) and the rest
// (the script or YAML path, then its arguments). Fails on an unknown option.
struct SplitArgs {
  std::vector<std::string> options;
  std::vector<std::string> positional;
};
Result<SplitArgs> SplitSubmitArgs(const std::vector<std::string>& argv);

// Checks a spec from any source (the REST API included): positive counts, sane sizes,
// a script that starts with "#!", absolute directories. Error names the field.
Result<> Validate(const model::JobSpec& spec);

// Checks what an agent reports about its node (the REST API's /v1/agents/{name}/report): a
// name, and a capacity within the same per-node bounds as a job's request (a report of 9e18
// GPUs would make the scheduler allocate a bit per GPU). Error names the field.
Result<> ValidateNodeReport(const model::NodeReport& report);

// sbatch filename patterns: %j job id, %x job name, %N node name, %n node index, %t task
// rank (= node index here), %u user, %A array job id, %a array index, %r restart count,
// %% a literal '%'. A '\\' anywhere in the pattern disables substitution (Slurm's rule).
struct FilenameContext {
  model::JobId job_id = 0;
  std::string job_name;
  std::string node_name;
  int node_index = 0;
  std::string user;
  model::JobId array_job_id = 0;
  int array_task_id = -1;  // -1: not an array job
  int restart_count = 0;
};
// Which fields ExpandFilenamePattern fills in.
enum class PatternScope {
  kAll,  // Weft runs the job: every field; a backslash anywhere turns substitution off and goes
  // Slurm runs it (a slurm pool): only the job's own fields (%j %J %A %a %b %r %x, %u when the
  // user is known), names %-escaped; %% %N %n %t %s, the unknown and backslashes are left
  // as written for Slurm to expand.
  kJobFields,
};
std::string ExpandFilenamePattern(std::string_view pattern, const FilenameContext& context,
                                  PatternScope scope = PatternScope::kAll);

}  // namespace weft::spec
