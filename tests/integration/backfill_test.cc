// Backfill on a real 2-node cluster: a blocked gang job shows its expected start, a job short
// enough to end before it backfills, a long one waits.
#include <gtest/gtest.h>

#include "local_cluster.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;

TEST(BackfillTest, ShortJobBackfillsInFrontOfReservedGangAndLongJobWaits) {
  LocalCluster cluster(2);  // 4 cpus per agent: -c 4 takes a whole node
  const long long first = cluster.SubmitScript("first.sh", "#!/bin/sh\nsleep 30\n", {"-c", "4", "-t", "0:30"});
  ASSERT_TRUE(PollUntil([&] { return cluster.Job(first)["state"] == "RUNNING"; }, 30s));
  const double first_end = cluster.Job(first)["start_time"].get<double>() + 30;

  const long long gang = cluster.SubmitScript("gang.sh", "#!/bin/sh\ntrue\n", {"-N", "2", "-c", "4", "-t", "1:00"});
  nlohmann::json shown;
  ASSERT_TRUE(PollUntil(
      [&] {
        const CommandResult r = cluster.Weft({"show", std::to_string(gang), "-o", "json"});
        if (r.exit_code != 0) return false;
        shown = nlohmann::json::parse(r.out);
        return shown["expected_start"].is_number();
      },
      20s));
  EXPECT_EQ(shown["state"], "PENDING");
  EXPECT_EQ(shown["reason"], "Resources");
  EXPECT_NEAR(shown["expected_start"].get<double>(), first_end, 1.0);
  const CommandResult text = cluster.Weft({"show", std::to_string(gang)});
  EXPECT_EQ(text.out.find("StartTime      -"), std::string::npos) << text.out;

  const long long short_job = cluster.SubmitScript("short.sh", "#!/bin/sh\necho short\n", {"-c", "4", "-t", "0:05"});
  EXPECT_EQ(cluster.WaitFinal(short_job, 20s)["state"], "COMPLETED");

  const long long long_job = cluster.SubmitScript("long.sh", "#!/bin/sh\ntrue\n", {"-c", "4", "-t", "5:00"});
  ASSERT_TRUE(PollUntil([&] { return cluster.Job(long_job)["reason"] != "None"; }, 20s));
  const nlohmann::json waiting = cluster.Job(long_job);
  EXPECT_EQ(waiting["state"], "PENDING");
  EXPECT_EQ(waiting["reason"], "Priority");
  EXPECT_TRUE(waiting["expected_start"].is_null());
  EXPECT_EQ(cluster.Job(gang)["state"], "PENDING");
  const CommandResult queue = cluster.Weft({"queue"});
  EXPECT_NE(queue.out.find("START_TIME"), std::string::npos) << queue.out;

  // Waiting jobs first: once `first` is gone they could start (and end) before their cancel.
  EXPECT_EQ(cluster.Weft({"cancel", std::to_string(long_job), std::to_string(gang), std::to_string(first)}).exit_code,
            0);
}

}  // namespace
}  // namespace weft::testing
