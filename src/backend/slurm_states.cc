#include "backend/slurm_states.h"

#include <array>
#include <cctype>
#include <utility>

#include "common/strings.h"

namespace weft::backend {
namespace {

using model::JobState;

struct StateRow {
  std::string_view name;     // as squeue %T / sacct print it
  std::string_view compact;  // as squeue %t prints it
  JobState state;
};

constexpr std::array kStates = {
    StateRow{"PENDING", "PD", JobState::kPending},
    StateRow{"CONFIGURING", "CF", JobState::kPending},  // nodes allocated, booting: not started
    StateRow{"REQUEUED", "RQ", JobState::kPending},
    StateRow{"REQUEUE_FED", "RF", JobState::kPending},
    StateRow{"REQUEUE_HOLD", "RH", JobState::kPending},
    StateRow{"RESV_DEL_HOLD", "RD", JobState::kPending},
    StateRow{"RUNNING", "R", JobState::kRunning},
    StateRow{"COMPLETING", "CG", JobState::kRunning},  // ended; Slurm is still cleaning up
    StateRow{"SUSPENDED", "S", JobState::kRunning},    // keeps its allocation
    StateRow{"STOPPED", "ST", JobState::kRunning},
    StateRow{"RESIZING", "RS", JobState::kRunning},
    StateRow{"SIGNALING", "SI", JobState::kRunning},
    StateRow{"STAGE_OUT", "SO", JobState::kRunning},
    StateRow{"COMPLETED", "CD", JobState::kCompleted},
    StateRow{"FAILED", "F", JobState::kFailed},
    StateRow{"SPECIAL_EXIT", "SE", JobState::kFailed},  // requeued held after a special exit
    StateRow{"TIMEOUT", "TO", JobState::kTimeout},
    StateRow{"DEADLINE", "DL", JobState::kTimeout},  // --deadline passed
    StateRow{"CANCELLED", "CA", JobState::kCancelled},
    StateRow{"REVOKED", "RV", JobState::kCancelled},  // federation: runs on a sibling instead
    StateRow{"OUT_OF_MEMORY", "OOM", JobState::kOomKilled},
    StateRow{"NODE_FAIL", "NF", JobState::kNodeFail},
    StateRow{"BOOT_FAIL", "BF", JobState::kNodeFail},
    StateRow{"PREEMPTED", "PR", JobState::kPreempted},
};

const StateRow* Find(std::string_view text) {
  std::string upper;
  for (char c : Trim(text)) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // sacct: "CANCELLED by 1000"; truncated columns end in '+'.
  if (const auto space = upper.find(' '); space != std::string::npos) upper.resize(space);
  while (!upper.empty() && upper.back() == '+') upper.pop_back();
  for (const StateRow& row : kStates) {
    if (upper == row.name || upper == row.compact) return &row;
  }
  return nullptr;
}

}  // namespace

std::string CanonicalSlurmState(std::string_view text) {
  const StateRow* row = Find(text);
  return row ? std::string(row->name) : std::string();
}

std::optional<model::JobState> MapSlurmState(std::string_view text) {
  const StateRow* row = Find(text);
  if (!row) return std::nullopt;
  return row->state;
}

std::optional<ExitStatus> ParseSacctExitCode(std::string_view text) {
  const std::vector<std::string> parts = Split(Trim(text), ':');
  if (parts.size() != 2) return std::nullopt;
  const auto code = ParseInt(parts[0]);
  const auto sig = ParseInt(parts[1]);
  if (!code || !sig || *code < 0 || *code > 255 || *sig < 0 || *sig > 127) return std::nullopt;
  ExitStatus out;
  out.signal = static_cast<int>(*sig);
  out.exit_code = out.signal != 0 && *code == 0 ? 128 + out.signal : static_cast<int>(*code);
  return out;
}

ExitStatus FromWaitStatus(long long raw) {
  ExitStatus out;
  if (raw < 0) return out;
  const int sig = static_cast<int>(raw & 0x7f);
  if (sig != 0) {
    out.signal = sig;
    out.exit_code = 128 + sig;
  } else {
    out.exit_code = static_cast<int>((raw >> 8) & 0xff);
  }
  return out;
}

}  // namespace weft::backend
