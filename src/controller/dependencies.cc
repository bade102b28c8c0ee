#include "controller/dependencies.h"

#include <fmt/format.h>

namespace weft::controller {
namespace {

using model::DependencyType;
using model::JobState;

struct Condition {
  DependencyStatus status;
  std::string reason;  // for kNeverSatisfied
};

std::string Describe(const model::DependencyTerm& term, model::JobId ref,
                     const DependencyTarget& target) {
  if (target.id == ref && target.array_task_id < 0) {
    return fmt::format("{}:{} ended {}", model::ToString(term.type), ref,
                       model::ToString(target.state));
  }
  return fmt::format("{}:{} (task {}, job {}) ended {}", model::ToString(term.type), ref,
                     target.array_task_id, target.id, model::ToString(target.state));
}

DependencyStatus ConditionOn(DependencyType type, const DependencyTarget& target) {
  const bool ended = model::IsFinal(target.state);
  switch (type) {
    case DependencyType::kAfter:
      return target.started || target.state != JobState::kPending
                 ? DependencyStatus::kSatisfied
                 : DependencyStatus::kWaiting;
    case DependencyType::kAfterAny:
      return ended ? DependencyStatus::kSatisfied : DependencyStatus::kWaiting;
    case DependencyType::kAfterOk:
      if (!ended) return DependencyStatus::kWaiting;
      return target.state == JobState::kCompleted ? DependencyStatus::kSatisfied
                                                  : DependencyStatus::kNeverSatisfied;
    case DependencyType::kAfterNotOk:
      if (!ended) return DependencyStatus::kWaiting;
      return target.state == JobState::kCompleted ? DependencyStatus::kNeverSatisfied
                                                  : DependencyStatus::kSatisfied;
    case DependencyType::kSingleton:
      break;
  }
  return DependencyStatus::kSatisfied;
}

// One term, all of its jobs (and each array's tasks) required.
Condition EvaluateTerm(const model::DependencyTerm& term, const TargetLookup& lookup,
                       bool singleton_blocked) {
  if (term.type == DependencyType::kSingleton) {
    return {singleton_blocked ? DependencyStatus::kWaiting : DependencyStatus::kSatisfied, ""};
  }
  bool waiting = false;
  for (model::JobId ref : term.jobs) {
    const std::vector<DependencyTarget> targets = lookup(ref);
    if (targets.empty()) {
      return {DependencyStatus::kNeverSatisfied,
              fmt::format("{}:{} does not exist", model::ToString(term.type), ref)};
    }
    for (const DependencyTarget& target : targets) {
      const DependencyStatus status = ConditionOn(term.type, target);
      if (status == DependencyStatus::kNeverSatisfied) {
        return {status, Describe(term, ref, target)};
      }
      if (status == DependencyStatus::kWaiting) waiting = true;
    }
  }
  return {waiting ? DependencyStatus::kWaiting : DependencyStatus::kSatisfied, ""};
}

}  // namespace

DependencyVerdict EvaluateDependency(const model::Dependency& dependency,
                                     const TargetLookup& lookup, bool singleton_blocked) {
  if (dependency.empty()) return {};
  bool waiting = false;
  std::vector<std::string> never;
  for (const model::DependencyTerm& term : dependency.terms) {
    Condition c = EvaluateTerm(term, lookup, singleton_blocked);
    switch (c.status) {
      case DependencyStatus::kSatisfied:
        if (dependency.any) return {};
        break;
      case DependencyStatus::kWaiting:
        waiting = true;
        break;
      case DependencyStatus::kNeverSatisfied:
        if (!dependency.any) return {DependencyStatus::kNeverSatisfied, std::move(c.reason)};
        never.push_back(std::move(c.reason));
        break;
    }
  }
  if (waiting) return {DependencyStatus::kWaiting, ""};
  if (dependency.any) {
    std::string reason;
    for (const std::string& r : never) reason += (reason.empty() ? "" : "; ") + r;
    return {DependencyStatus::kNeverSatisfied, std::move(reason)};
  }
  return {};
}

bool WaitsForStart(const model::Dependency& dependency) {
  for (const model::DependencyTerm& term : dependency.terms) {
    if (term.type == DependencyType::kAfter) return true;
  }
  return false;
}

}  // namespace weft::controller
