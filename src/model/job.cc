#include "model/job.h"

#include <algorithm>
#include <array>
#include <utility>

#include <fmt/format.h>

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

std::vector<int> ArraySpec::Indices() const {
  std::vector<int> out;
  for (const ArrayRange& r : ranges) {
    if (r.step < 1) continue;
    for (long long i = r.first; i <= r.last; i += r.step) out.push_back(static_cast<int>(i));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string ToString(const ArraySpec& array) {
  std::string out;
  for (const ArrayRange& r : array.ranges) {
    if (!out.empty()) out += ',';
    if (r.first == r.last) {
      out += std::to_string(r.first);
    } else {
      out += fmt::format("{}-{}", r.first, r.last);
      if (r.step != 1) out += fmt::format(":{}", r.step);
    }
  }
  if (array.max_running > 0) out += fmt::format("%{}", array.max_running);
  return out;
}

namespace {
constexpr std::array<std::pair<DependencyType, std::string_view>, 5> kDependencyNames{{
    {DependencyType::kAfter, "after"},
    {DependencyType::kAfterAny, "afterany"},
    {DependencyType::kAfterOk, "afterok"},
    {DependencyType::kAfterNotOk, "afternotok"},
    {DependencyType::kSingleton, "singleton"},
}};
}  // namespace

std::string_view ToString(DependencyType type) {
  for (const auto& [t, name] : kDependencyNames) {
    if (t == type) return name;
  }
  return "unknown";
}

std::optional<DependencyType> ParseDependencyType(std::string_view text) {
  for (const auto& [t, name] : kDependencyNames) {
    if (name == text) return t;
  }
  return std::nullopt;
}

std::string ToString(const Dependency& dependency) {
  std::string out;
  for (const DependencyTerm& term : dependency.terms) {
    if (!out.empty()) out += dependency.any ? '?' : ',';
    out += ToString(term.type);
    for (JobId id : term.jobs) out += fmt::format(":{}", id);
  }
  return out;
}

bool Job::HoldsResources() const {
  if (allocation.ranks.empty()) return false;
  for (const TaskRecord& task : tasks) {
    if (task.phase != TaskPhase::kExited) return true;
  }
  return false;
}

}  // namespace weft::model
