// Slurm job states and exit codes → Weft's JobState, exit code and signal. Pure functions.
//
// squeue prints states long ("RUNNING") with %T / -O State, or compact ("R") with %t; sacct
// prints them long and may add "by <uid>" ("CANCELLED by 0") or a '+' when truncated. Every
// form is accepted. Slurm states with no Weft equivalent map to the nearest one:
//   PENDING CONFIGURING REQUEUED REQUEUE_FED REQUEUE_HOLD RESV_DEL_HOLD → PENDING
//   RUNNING COMPLETING SUSPENDED STOPPED RESIZING SIGNALING STAGE_OUT   → RUNNING
//   COMPLETED → COMPLETED          FAILED SPECIAL_EXIT → FAILED
//   TIMEOUT DEADLINE → TIMEOUT     CANCELLED REVOKED → CANCELLED
//   OUT_OF_MEMORY → OOM_KILLED     NODE_FAIL BOOT_FAIL → NODE_FAIL     PREEMPTED → PREEMPTED
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "model/job.h"

namespace weft::backend {

// "CANCELLED by 0" → "CANCELLED", "CA" → "CANCELLED", "cancelled+" → "CANCELLED"; "" when the
// text names no Slurm state.
std::string CanonicalSlurmState(std::string_view text);
// The Weft state for a Slurm state in any of the forms above; nullopt for unknown text.
std::optional<model::JobState> MapSlurmState(std::string_view text);

struct ExitStatus {
  int exit_code = 0;  // 128+signal when killed by a signal (Weft's convention)
  int signal = 0;     // 0 = exited normally
  bool operator==(const ExitStatus&) const = default;
};
// sacct's ExitCode "N:S" (exit code N, or signal S); nullopt when malformed.
std::optional<ExitStatus> ParseSacctExitCode(std::string_view text);
// squeue's -O exit_code: the raw wait(2) status of the batch shell (768 = exit 3, 9 = SIGKILL).
ExitStatus FromWaitStatus(long long raw);

// One Slurm job as Weft sees it.
struct SlurmJobStatus {
  std::string slurm_id;
  std::string slurm_state;  // canonical, e.g. "CANCELLED"
  model::JobState state = model::JobState::kPending;
  std::string reason;  // Slurm's reason ("Resources", "NonZeroExitCode"), "" = none
  ExitStatus exit;
  std::string nodelist;  // Slurm's hostlist expression, "" while pending
  bool final() const { return model::IsFinal(state); }
};

}  // namespace weft::backend
