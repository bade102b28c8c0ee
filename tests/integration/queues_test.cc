// Queues end to end: `weft server --config`, quota and borrowing with real agents, `weft queues`.
#include <filesystem>

#include <gtest/gtest.h>

#include "local_cluster.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kConfig = R"(queues:
  - name: team-a
    quota: {gpus: 1}
    cohort: research
    borrow_limit: {gpus: 1}
  - name: team-b
    quota: {gpus: 1}
    cohort: research
)";

TEST(QueuesIntegrationTest, QuotaAndBorrowingHoldJobsBackUntilUsageDrops) {
  LocalCluster cluster(2, AgentSpec{4, "1G", 2}, kConfig);
  const std::string flag = cluster.work_dir() + "/go";
  const std::string script = "#!/bin/sh\n#SBATCH -A team-a --gpus-per-node=1\nwhile [ ! -e " + flag +
                             " ]; do sleep 0.05; done\n";
  const long long nominal = cluster.SubmitScript("a1.sh", script);
  const long long borrowed = cluster.SubmitScript("a2.sh", script);
  const long long over = cluster.SubmitScript("a3.sh", script);

  ASSERT_TRUE(PollUntil([&] { return cluster.Job(borrowed)["state"] == "RUNNING"; }, 20s));
  EXPECT_EQ(cluster.Job(nominal)["state"], "RUNNING");
  EXPECT_EQ(cluster.Job(over)["state"], "PENDING");
  EXPECT_EQ(cluster.Job(over)["reason"], "QuotaExceeded");
  const CommandResult queues = cluster.Weft({"queues", "-o", "json"});
  ASSERT_EQ(queues.exit_code, 0) << queues.err;
  const nlohmann::json q = nlohmann::json::parse(queues.out)["queues"];
  ASSERT_EQ(q[0]["name"], "team-a");
  EXPECT_EQ(q[0]["usage"]["gpus"], 2);
  EXPECT_EQ(q[0]["borrowed"]["gpus"], 1);
  EXPECT_EQ(q[0]["pending_jobs"], 1);
  EXPECT_EQ(q[0]["quota"]["gpus"], 1);
  EXPECT_NE(cluster.Weft({"queues"}).out.find("team-b"), std::string::npos);
  const CommandResult unknown = cluster.Weft({"submit", "-A", "team-z", "a1.sh"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("team-z"), std::string::npos);

  WriteFile(flag, "");
  for (long long id : {nominal, borrowed, over}) EXPECT_EQ(cluster.WaitFinal(id)["state"], "COMPLETED");
}

TEST(QueuesIntegrationTest, BadConfigStopsTheServerWithOneSentence) {
  char tmpl[] = "/tmp/weft-badcfg-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  WriteFile(dir + "/weft.yaml", "queues:\n  - name: a\n    quota: {gpus: lots}\n");

  const CommandResult r = RunProgram({WEFT_BINARY, "server", "--listen", "127.0.0.1:0", "--state-dir", dir + "/s",
                                      "--config", dir + "/weft.yaml"},
                                     {}, dir);

  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("queues[0].quota.gpus"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace weft::testing
