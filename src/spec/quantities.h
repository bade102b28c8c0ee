// Parsers for the quantities job options carry: counts, signed integers, booleans and GPU
// requests ("[type:]N"). ParseTimeLimit and ParseMemory are public in job_spec_parser.h.
// Every error message starts with `label` (the option or field as the user knows it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"
#include "model/job.h"

namespace weft::spec {

// Upper bound for every count (nodes, tasks, CPUs, GPUs): keeps products of counts and
// sizes far from int64 overflow, and no real cluster comes near it.
inline constexpr int kMaxCount = 1'000'000;

// A non-negative whole number no larger than kMaxCount.
Result<int> ParseCount(std::string_view label, std::string_view text);

// A signed whole number with |n| <= 1e9 (priorities, nice values).
Result<int> ParseSignedInt(std::string_view label, std::string_view text);

// YAML-style booleans: true/false, yes/no, on/off, 1/0 (any case).
Result<bool> ParseBool(std::string_view label, std::string_view text);

struct GpuRequest {
  std::string model;  // "" = any model
  int count = 0;
};

// "[type:]N" as --gpus-per-node, -G/--gpus, --gpus-per-task and Weft's --gpus take it:
// "8" or "H100:8".
Result<GpuRequest> ParseGpuRequest(std::string_view label, std::string_view text);

// sbatch's --gres list, "gpu[:type][:N]" entries separated by commas (count defaults to 1).
// Only GPUs are supported; any other resource name is an error.
Result<GpuRequest> ParseGres(std::string_view label, std::string_view text);

// Limits on --array: the largest index (Slurm's largest MaxArraySize - 1) and the most tasks
// one submission may create (each is a job, written in one durable batch).
inline constexpr int kMaxArrayIndex = 4'000'000;
inline constexpr int kMaxArrayTasks = 10'000;

// sbatch --array: "0-99%8", "1,3,5-7", "0-15:4", "7": comma-separated indices and ranges
// (with an optional ":step"), then an optional "%N" throttle (N >= 1).
Result<model::ArraySpec> ParseArraySpec(std::string_view label, std::string_view text);

// sbatch --dependency: "type:id[:id...]" terms separated by ',' (all must hold) or '?' (any
// may), types after, afterany, afterok, afternotok, and the bare term "singleton". Mixing
// ',' and '?' is refused, as Slurm does.
Result<model::Dependency> ParseDependency(std::string_view label, std::string_view text);

// sbatch --signal: "[{R|B}:]SIG[@SECS]". SIG is a name (USR1, SIGUSR1, TERM, ...) or a number
// 1..64; SECS 0..65535, default 60 (Slurm's). "B:" sets batch_only; "R:" (Slurm's
// reservation hint) is accepted and has no effect.
Result<model::SignalSpec> ParseSignalSpec(std::string_view label, std::string_view text);

// True for a portable environment variable name: [A-Za-z_][A-Za-z0-9_]*.
bool IsVariableName(std::string_view name);

}  // namespace weft::spec
