#include "model/job.h"

#include <gtest/gtest.h>

namespace weft::model {
namespace {

constexpr JobState kAll[] = {JobState::kPending,   JobState::kRunning,  JobState::kCompleted,
                             JobState::kFailed,    JobState::kCancelled, JobState::kTimeout,
                             JobState::kOomKilled, JobState::kNodeFail, JobState::kPreempted};

TEST(JobStateTest, NamesRoundTrip) {
  for (JobState s : kAll) {
    EXPECT_EQ(ParseJobState(ToString(s)), s);
  }
  EXPECT_FALSE(ParseJobState("pending").has_value());
}

TEST(JobStateTest, TransitionTableIsExhaustive) {
  for (JobState from : kAll) {
    for (JobState to : kAll) {
      bool expected = false;
      if (from == JobState::kPending) {
        expected = to == JobState::kRunning || to == JobState::kCancelled ||
                   to == JobState::kFailed;
      } else if (from == JobState::kRunning) {
        expected = to != JobState::kRunning;
      }
      EXPECT_EQ(CanTransition(from, to), expected)
          << ToString(from) << " -> " << ToString(to);
    }
  }
}

TEST(JobTest, HoldsResourcesUntilEveryRankHasExited) {
  Job job;
  EXPECT_FALSE(job.HoldsResources());
  job.allocation.ranks.resize(2);
  job.tasks.resize(2);
  EXPECT_TRUE(job.HoldsResources());
  job.tasks[0].phase = TaskPhase::kExited;
  EXPECT_TRUE(job.HoldsResources());
  job.tasks[1].phase = TaskPhase::kExited;
  EXPECT_FALSE(job.HoldsResources());
}

TEST(ResourcesTest, FitsAndArithmetic) {
  const Resources node{4000, 8LL << 30, 4};
  const Resources req{2000, 4LL << 30, 2};
  EXPECT_TRUE(req.FitsIn(node));
  EXPECT_FALSE((req + req + req).FitsIn(node));
  EXPECT_EQ(node - req - req, (Resources{0, 0, 0}));
  EXPECT_EQ(FormatMemory(4LL << 30), "4G");
  EXPECT_EQ(FormatMemory(512LL << 20), "512M");
}

}  // namespace
}  // namespace weft::model
