#include "controller/accounting.h"

#include <gtest/gtest.h>

namespace weft::controller {
namespace {

using model::JobState;

model::Job RanJob() {
  model::Job job;
  job.id = 4;
  job.state = JobState::kCompleted;
  job.reason = "None";
  job.start_time = FromUnixMicros(10'000'000);
  job.allocation.ranks = {{"n1", {1000, 1 << 20, 2}, {0, 1}}, {"n2", {1000, 1 << 20, 2}, {0, 1}}};
  job.tasks.resize(2);
  job.tasks[0].end_time = FromUnixMicros(12'000'000);
  job.tasks[1].end_time = FromUnixMicros(14'000'000);
  job.tasks[0].usage = model::TaskUsage{3'000'000, 100, 0, 200, 50};
  job.tasks[1].usage = model::TaskUsage{1'000'000, 150, 0, 200, 70};
  return job;
}

TEST(AccountingTest, AttemptSumsCpuTakesLargestPeakAndChargesGpuTime) {
  const model::AttemptRecord a = EndAttempt(RanJob(), FromUnixMicros(20'000'000), JobState::kPreempted);
  EXPECT_EQ(a.state, JobState::kCompleted);
  EXPECT_EQ(a.nodes, (std::vector<std::string>{"n1", "n2"}));
  EXPECT_EQ(a.start_time, FromUnixMicros(10'000'000));
  EXPECT_EQ(a.end_time, FromUnixMicros(14'000'000));  // the last rank's end, not `now`
  EXPECT_EQ(a.cpu_usec, 4'000'000);
  EXPECT_EQ(a.memory_peak_bytes, 150);
  EXPECT_EQ(a.memory_limit_bytes, 200);
  EXPECT_EQ(a.gpu_usec, 4 * 4'000'000);  // 4 GPUs for 4 s
  EXPECT_EQ(a.gpu_utilization, 60);
}

TEST(AccountingTest, RequeuedAttemptCountsAsPreemptedWithItsFirstFailure) {
  model::Job job = RanJob();
  job.state = JobState::kRunning;
  job.restart_count = 2;
  job.preemption_reason = "preempted by job 9";
  job.tasks[1].exit = model::TaskExit{143, 15};
  const model::AttemptRecord a = EndAttempt(job, FromUnixMicros(20'000'000), JobState::kPreempted);
  EXPECT_EQ(a.state, JobState::kPreempted);
  EXPECT_EQ(a.attempt, 2);
  EXPECT_EQ(a.reason, "preempted by job 9");
  EXPECT_EQ(a.exit_code, 143);
  EXPECT_EQ(a.exit_signal, 15);
}

TEST(AccountingTest, NoUsageReportedLeavesUsageUnknown) {
  model::Job job = RanJob();
  for (auto& t : job.tasks) t.usage.reset();
  EXPECT_FALSE(JobUsage(job).has_value());
  const model::AttemptRecord a = EndAttempt(job, FromUnixMicros(20'000'000), JobState::kPreempted);
  EXPECT_EQ(a.cpu_usec, 0);
  EXPECT_EQ(a.gpu_utilization, -1);
}

}  // namespace
}  // namespace weft::controller
