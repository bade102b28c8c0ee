#include "model/job.h"

#include <array>
#include <utility>

namespace weft::model {
namespace {
constexpr std::array<std::pair<JobState, std::string_view>, 9> kStateNames{{
    {JobState::kPending, "PENDING"},
    {JobState::kRunning, "RUNNING"},
    {JobState::kCompleted, "COMPLETED"},
    {JobState::kFailed, "FAILED"},
    {JobState::kCancelled, "CANCELLED"},
    {JobState::kTimeout, "TIMEOUT"},
    {JobState::kOomKilled, "OOM_KILLED"},
    {JobState::kNodeFail, "NODE_FAIL"},
    {JobState::kPreempted, "PREEMPTED"},
}};
}  // namespace

std::string_view ToString(JobState state) {
  for (const auto& [s, name] : kStateNames) {
    if (s == state) return name;
  }
  return "UNKNOWN";
}

std::optional<JobState> ParseJobState(std::string_view text) {
  for (const auto& [s, name] : kStateNames) {
    if (name == text) return s;
  }
  return std::nullopt;
}

bool IsFinal(JobState state) {
  return state != JobState::kPending && state != JobState::kRunning;
}

bool CanTransition(JobState from, JobState to) {
  switch (from) {
    case JobState::kPending:
      return to == JobState::kRunning || to == JobState::kCancelled ||
             to == JobState::kFailed;  // failed: a dependency that can never be met
    case JobState::kRunning:
      return to != JobState::kRunning;  // to any final state, or back to PENDING (requeue)
    default:
      return false;  // final states are final
  }
}

std::string_view ToString(TaskPhase phase) {
  switch (phase) {
    case TaskPhase::kAssigned: return "ASSIGNED";
    case TaskPhase::kRunning: return "RUNNING";
    case TaskPhase::kExited: return "EXITED";
  }
  return "UNKNOWN";
}

bool Job::HoldsResources() const {
  if (allocation.ranks.empty()) return false;
  for (const TaskRecord& task : tasks) {
    if (task.phase != TaskPhase::kExited) return true;
  }
  return false;
}

}  // namespace weft::model
