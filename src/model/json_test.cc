#include "model/json.h"

#include <gtest/gtest.h>

namespace weft::model {
namespace {

TEST(JsonTest, JobRoundTripsThroughJson) {
  Job job;
  job.id = 7;
  job.spec.name = "train";
  job.spec.num_nodes = 2;
  job.spec.per_node = {4000, 1LL << 30, 2};
  job.spec.time_limit = std::chrono::seconds(90);
  job.spec.env = {{"A", "1"}};
  job.state = JobState::kRunning;
  job.submit_time = FromUnixMicros(1000);
  job.start_time = FromUnixMicros(2000);
  job.allocation.ranks = {{"n1", {4000, 1LL << 30, 2}, {0, 1}}, {"n2", {4000, 1LL << 30, 2}, {2, 3}}};
  job.tasks.resize(2);
  job.tasks[1].phase = TaskPhase::kExited;
  job.tasks[1].exit = TaskExit{137, 9, true, false, false};

  const nlohmann::json j = job;
  Result<Job> back = JobFromJson(j);

  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(nlohmann::json(*back), j);
  EXPECT_EQ(back->spec.time_limit, std::chrono::seconds(90));
  EXPECT_EQ(back->allocation.ranks[1].gpu_ids, (std::vector<int>{2, 3}));
  EXPECT_TRUE(back->tasks[1].exit->timed_out);
}

TEST(JsonTest, BadFieldTypeIsAnInvalidArgumentNotAnException) {
  Result<JobSpec> spec = JobSpecFromJson(nlohmann::json{{"num_nodes", "two"}});
  ASSERT_FALSE(spec.has_value());
  EXPECT_EQ(spec.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(ParseJson("{not json").has_value());
}

TEST(JsonTest, NodeReportRoundTrips) {
  NodeReport report;
  report.name = "n1";
  report.capacity = {2000, 1LL << 30, 1};
  TaskReport t;
  t.key = {5, 1, 2};
  t.phase = TaskPhase::kExited;
  t.exit = TaskExit{1, 0, false, false, false};
  report.tasks.push_back(t);

  Result<NodeReport> back = NodeReportFromJson(nlohmann::json(report));

  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->tasks.at(0).key, (TaskKey{5, 1, 2}));
  EXPECT_EQ(back->tasks.at(0).exit->exit_code, 1);
}

}  // namespace
}  // namespace weft::model
