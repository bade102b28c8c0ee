#include "controller/dependencies.h"

#include <map>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace weft::controller {
namespace {

using model::DependencyType;
using model::JobState;

model::DependencyTerm Term(DependencyType type, std::vector<model::JobId> jobs = {}) {
  return model::DependencyTerm{type, std::move(jobs)};
}

// Jobs 1..: plain jobs in the given states; 10: an array whose tasks are 10, 11 and 12.
struct World {
  std::map<model::JobId, DependencyTarget> jobs;
  std::map<model::JobId, std::vector<DependencyTarget>> arrays;
  TargetLookup Lookup() const {
    return [this](model::JobId id) -> std::vector<DependencyTarget> {
      if (auto a = arrays.find(id); a != arrays.end()) return a->second;
      if (auto j = jobs.find(id); j != jobs.end()) return {j->second};
      return {};
    };
  }
};

DependencyTarget Target(model::JobId id, JobState state, bool started = false, int task = -1) {
  return DependencyTarget{id, state, started || (state != JobState::kPending), task};
}

TEST(EvaluateDependencyTest, EachTypeAgainstEachState) {
  struct Case {
    DependencyType type;
    JobState state;
    bool started;
    DependencyStatus want;
  };
  using S = DependencyStatus;
  const Case kCases[] = {
      {DependencyType::kAfter, JobState::kPending, false, S::kWaiting},
      {DependencyType::kAfter, JobState::kPending, true, S::kSatisfied},  // requeued
      {DependencyType::kAfter, JobState::kRunning, true, S::kSatisfied},
      {DependencyType::kAfter, JobState::kCancelled, false, S::kSatisfied},
      {DependencyType::kAfterAny, JobState::kRunning, true, S::kWaiting},
      {DependencyType::kAfterAny, JobState::kCompleted, true, S::kSatisfied},
      {DependencyType::kAfterAny, JobState::kFailed, true, S::kSatisfied},
      {DependencyType::kAfterAny, JobState::kCancelled, false, S::kSatisfied},
      {DependencyType::kAfterOk, JobState::kPending, false, S::kWaiting},
      {DependencyType::kAfterOk, JobState::kRunning, true, S::kWaiting},
      {DependencyType::kAfterOk, JobState::kCompleted, true, S::kSatisfied},
      {DependencyType::kAfterOk, JobState::kFailed, true, S::kNeverSatisfied},
      {DependencyType::kAfterOk, JobState::kCancelled, false, S::kNeverSatisfied},
      {DependencyType::kAfterOk, JobState::kTimeout, true, S::kNeverSatisfied},
      {DependencyType::kAfterOk, JobState::kOomKilled, true, S::kNeverSatisfied},
      {DependencyType::kAfterNotOk, JobState::kRunning, true, S::kWaiting},
      {DependencyType::kAfterNotOk, JobState::kCompleted, true, S::kNeverSatisfied},
      {DependencyType::kAfterNotOk, JobState::kFailed, true, S::kSatisfied},
      {DependencyType::kAfterNotOk, JobState::kNodeFail, true, S::kSatisfied},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(fmt::format("{} on {}{}", model::ToString(c.type), model::ToString(c.state),
                             c.started ? " (started)" : ""));
    World world;
    world.jobs[5] = Target(5, c.state, c.started);
    const model::Dependency dep{{Term(c.type, {5})}, false};
    EXPECT_EQ(EvaluateDependency(dep, world.Lookup(), false).status, c.want);
  }
}

TEST(EvaluateDependencyTest, ReasonNamesTheDependencyAndTheEndState) {
  World world;
  world.jobs[12] = Target(12, JobState::kFailed);
  const model::Dependency dep{{Term(DependencyType::kAfterOk, {12})}, false};
  const DependencyVerdict v = EvaluateDependency(dep, world.Lookup(), false);
  EXPECT_EQ(v.status, DependencyStatus::kNeverSatisfied);
  EXPECT_EQ(v.reason, "afterok:12 ended FAILED");

  const model::Dependency unknown{{Term(DependencyType::kAfterAny, {99})}, false};
  EXPECT_EQ(EvaluateDependency(unknown, world.Lookup(), false).reason, "afterany:99 does not exist");
}

TEST(EvaluateDependencyTest, AllTermsMustHoldWithComma) {
  World world;
  world.jobs[1] = Target(1, JobState::kCompleted);
  world.jobs[2] = Target(2, JobState::kRunning);
  world.jobs[3] = Target(3, JobState::kCancelled);
  const auto eval = [&](std::vector<model::DependencyTerm> terms, bool any) {
    return EvaluateDependency(model::Dependency{std::move(terms), any}, world.Lookup(), false);
  };
  EXPECT_EQ(eval({Term(DependencyType::kAfterOk, {1})}, false).status, DependencyStatus::kSatisfied);
  EXPECT_EQ(eval({Term(DependencyType::kAfterOk, {1, 2})}, false).status, DependencyStatus::kWaiting);
  EXPECT_EQ(eval({Term(DependencyType::kAfterOk, {1}), Term(DependencyType::kAfterAny, {2})}, false)
                .status,
            DependencyStatus::kWaiting);
  // One impossible condition decides, even while another is still waiting.
  const DependencyVerdict v =
      eval({Term(DependencyType::kAfterAny, {2}), Term(DependencyType::kAfterOk, {1, 3})}, false);
  EXPECT_EQ(v.status, DependencyStatus::kNeverSatisfied);
  EXPECT_EQ(v.reason, "afterok:3 ended CANCELLED");
  // '?': one satisfied term suffices; impossible only when every term is.
  EXPECT_EQ(eval({Term(DependencyType::kAfterOk, {3}), Term(DependencyType::kAfterOk, {1})}, true)
                .status,
            DependencyStatus::kSatisfied);
  EXPECT_EQ(eval({Term(DependencyType::kAfterOk, {3}), Term(DependencyType::kAfterAny, {2})}, true)
                .status,
            DependencyStatus::kWaiting);
  const DependencyVerdict none = eval(
      {Term(DependencyType::kAfterOk, {3}), Term(DependencyType::kAfterNotOk, {1})}, true);
  EXPECT_EQ(none.status, DependencyStatus::kNeverSatisfied);
  EXPECT_EQ(none.reason, "afterok:3 ended CANCELLED; afternotok:1 ended COMPLETED");
  EXPECT_EQ(eval({}, false).status, DependencyStatus::kSatisfied);
}

TEST(EvaluateDependencyTest, AnArrayIdMeansEveryTask) {
  World world;
  world.arrays[10] = {Target(10, JobState::kCompleted, true, 0),
                      Target(11, JobState::kRunning, true, 1),
                      Target(12, JobState::kPending, false, 2)};
  const model::Dependency ok{{Term(DependencyType::kAfterOk, {10})}, false};
  const model::Dependency after{{Term(DependencyType::kAfter, {10})}, false};
  EXPECT_EQ(EvaluateDependency(ok, world.Lookup(), false).status, DependencyStatus::kWaiting);
  EXPECT_EQ(EvaluateDependency(after, world.Lookup(), false).status, DependencyStatus::kWaiting);
  world.arrays[10][1].state = JobState::kCompleted;
  world.arrays[10][2].state = JobState::kCompleted;
  EXPECT_EQ(EvaluateDependency(ok, world.Lookup(), false).status, DependencyStatus::kSatisfied);
  world.arrays[10][1].state = JobState::kFailed;
  const DependencyVerdict v = EvaluateDependency(ok, world.Lookup(), false);
  EXPECT_EQ(v.status, DependencyStatus::kNeverSatisfied);
  EXPECT_EQ(v.reason, "afterok:10 (task 1, job 11) ended FAILED");
}

TEST(EvaluateDependencyTest, SingletonWaitsWhileBlocked) {
  World world;
  world.jobs[1] = Target(1, JobState::kCompleted);
  const model::Dependency single{{Term(DependencyType::kSingleton)}, false};
  EXPECT_EQ(EvaluateDependency(single, world.Lookup(), true).status, DependencyStatus::kWaiting);
  EXPECT_EQ(EvaluateDependency(single, world.Lookup(), false).status, DependencyStatus::kSatisfied);
  const model::Dependency both{{Term(DependencyType::kAfterOk, {1}), Term(DependencyType::kSingleton)},
                               false};
  EXPECT_EQ(EvaluateDependency(both, world.Lookup(), true).status, DependencyStatus::kWaiting);
  EXPECT_EQ(EvaluateDependency(both, world.Lookup(), false).status, DependencyStatus::kSatisfied);
}

TEST(WaitsForStartTest, OnlyAfterWaitsForAStart) {
  EXPECT_TRUE(WaitsForStart(model::Dependency{{Term(DependencyType::kAfter, {1})}, false}));
  EXPECT_FALSE(WaitsForStart(model::Dependency{{Term(DependencyType::kAfterOk, {1})}, false}));
}

}  // namespace
}  // namespace weft::controller
