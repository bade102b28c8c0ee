// Preemption end to end with real agents: a lender reclaims GPUs a preemptible borrower took
// (SIGTERM, requeue, WEFT_RESTART_COUNT=1 in the second run), a non-preemptible borrower is
// never preempted, and a higher-priority job preempts a --signal=USR1 job that ignores it
// (SIGKILL after the configured grace; no retries left: PREEMPTED).
#include <gtest/gtest.h>

#include <filesystem>

#include "local_cluster.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;

// Two queues lending to each other, 2 GPUs of nominal quota each; 2 nodes × 2 GPUs. A short
// grace keeps the test fast.
constexpr const char* kCohortConfig = R"(queues:
  - name: team-a
    quota: {gpus: 2}
    cohort: research
  - name: team-b
    quota: {gpus: 2}
    cohort: research
scheduler:
  preemption_grace: 1s
)";

bool Exists(const std::string& path) { return std::filesystem::exists(path); }

TEST(PreemptionIntegrationTest, LenderReclaimsFromAPreemptibleBorrowerWhichIsRequeued) {
  LocalCluster cluster(2, AgentSpec{4, "1G", 2}, kCohortConfig);
  const std::string w = cluster.work_dir();
  // team-b takes all 4 GPUs: its own 2 and team-a's idle 2. It leaves on SIGTERM, noting it.
  const long long borrower = cluster.SubmitScript(
      "borrower.sh",
      "#!/bin/sh\n"
      "trap 'echo term > " +
          w +
          "/term.$WEFT_NODE_RANK; exit 0' TERM\n"
          "echo \"restart=$WEFT_RESTART_COUNT slurm=$SLURM_RESTART_COUNT\"\n"
          "touch " +
          w +
          "/started.$WEFT_RESTART_COUNT.$WEFT_NODE_RANK\n"
          "while [ ! -e " +
          w + "/go ]; do sleep 0.05; done\n",
      {"-A", "team-b", "-N", "2", "--gpus-per-node=2", "--preemptible", "-o", "borrower-%j.%n.out"});
  ASSERT_TRUE(PollUntil([&] { return Exists(w + "/started.0.0") && Exists(w + "/started.0.1"); }, 30s));

  const long long lender =
      cluster.SubmitScript("lender.sh", "#!/bin/sh\necho lender ran\n", {"-A", "team-a", "--gpus-per-node=2"});

  // The borrower got SIGTERM on every rank, was requeued, and the lender ran.
  EXPECT_EQ(cluster.WaitFinal(lender, 30s)["state"], "COMPLETED");
  EXPECT_TRUE(Exists(w + "/term.0"));
  EXPECT_TRUE(Exists(w + "/term.1"));
  // Its second attempt runs once the lender is done, told it is a restart.
  ASSERT_TRUE(PollUntil([&] { return Exists(w + "/started.1.0"); }, 30s));
  const nlohmann::json requeued = cluster.Job(borrower);
  EXPECT_EQ(requeued["state"], "RUNNING");
  EXPECT_EQ(requeued["restart_count"], 1);
  EXPECT_NE(requeued["preemption_reason"].get<std::string>().find("queue team-a reclaims its lent quota"),
            std::string::npos)
      << requeued.dump();
  ASSERT_TRUE(PollUntil(
      [&] {
        return ReadFile(w + "/borrower-" + std::to_string(borrower) + ".0.out").find("restart=1 slurm=1") !=
               std::string::npos;
      },
      10s));
  const CommandResult shown = cluster.Weft({"show", std::to_string(borrower)});
  EXPECT_NE(shown.out.find("Restarts       1"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("Preemption     preempted by job " + std::to_string(lender)), std::string::npos)
      << shown.out;

  WriteFile(w + "/go", "");
  EXPECT_EQ(cluster.WaitFinal(borrower, 30s)["state"], "COMPLETED");
}

TEST(PreemptionIntegrationTest, ANonPreemptibleBorrowerIsNeverPreempted) {
  LocalCluster cluster(2, AgentSpec{4, "1G", 2}, kCohortConfig);
  const std::string w = cluster.work_dir();
  const long long borrower = cluster.SubmitScript(
      "borrower.sh",
      "#!/bin/sh\ntouch " + w + "/started.$WEFT_NODE_RANK\nwhile [ ! -e " + w + "/go ]; do sleep 0.05; done\n",
      {"-A", "team-b", "-N", "2", "--gpus-per-node=2"});
  ASSERT_TRUE(PollUntil([&] { return Exists(w + "/started.0") && Exists(w + "/started.1"); }, 30s));

  const long long lender =
      cluster.SubmitScript("lender.sh", "#!/bin/sh\necho lender ran\n", {"-A", "team-a", "--gpus-per-node=2"});
  ASSERT_TRUE(PollUntil([&] { return cluster.Job(lender)["reason"] == "Resources"; }, 20s));

  // Well past the 1 s grace the borrower still runs, untouched, and the lender waits.
  EXPECT_FALSE(PollUntil(
      [&] {
        const nlohmann::json b = cluster.Job(borrower);
        return b["state"] != "RUNNING" || b["preempted_at"].is_number() || cluster.Job(lender)["state"] != "PENDING";
      },
      3s));
  WriteFile(w + "/go", "");
  const nlohmann::json done = cluster.WaitFinal(borrower, 30s);
  EXPECT_EQ(done["state"], "COMPLETED");
  EXPECT_EQ(done["restart_count"], 0);
  EXPECT_EQ(done["preemption_reason"], "");
  EXPECT_EQ(cluster.WaitFinal(lender, 30s)["state"], "COMPLETED");
}

TEST(PreemptionIntegrationTest, HigherPriorityPreemptsAndAVictimIgnoringItsSignalIsKilledAfterTheGrace) {
  LocalCluster cluster(1, AgentSpec{4, "1G", 2}, "scheduler:\n  preemption_grace: 1s\n");
  const std::string w = cluster.work_dir();
  // Asks for USR1 instead of SIGTERM, notes it and carries on (its sleeps die of it, the loop
  // does not): only the SIGKILL after the grace ends it. No requeue: it ends PREEMPTED.
  const long long victim =
      cluster.SubmitScript("victim.sh",
                           "#!/bin/sh\n"
                           "trap 'echo usr1 >> " +
                               w +
                               "/usr1' USR1\n"
                               "trap 'echo term >> " +
                               w +
                               "/term' TERM\n"
                               "touch " +
                               w +
                               "/ready\n"
                               "while true; do sleep 0.05; done\n",
                           {"--gpus-per-node=2", "--preemptible", "--no-requeue", "--signal=USR1@5", "-t", "10:00"});
  ASSERT_TRUE(PollUntil([&] { return Exists(w + "/ready"); }, 30s));

  const long long urgent =
      cluster.SubmitScript("urgent.sh", "#!/bin/sh\necho urgent ran\n", {"--gpus-per-node=2", "--priority=100"});

  const nlohmann::json ended = cluster.WaitFinal(victim, 30s);
  EXPECT_EQ(ended["state"], "PREEMPTED");
  EXPECT_EQ(ended["exit_signal"], 9);
  EXPECT_NE(
      ended["reason"].get<std::string>().find("preempted by job " + std::to_string(urgent) + " (priority 100 > 0)"),
      std::string::npos)
      << ended.dump();
  EXPECT_NE(ReadFile(w + "/usr1").find("usr1"), std::string::npos);
  EXPECT_FALSE(Exists(w + "/term"));  // USR1 replaced SIGTERM
  // Killed no sooner than the grace after its stop began (which was after `urgent` came).
  const nlohmann::json preemptor = cluster.WaitFinal(urgent, 30s);
  EXPECT_EQ(preemptor["state"], "COMPLETED");
  EXPECT_GE(ended["end_time"].get<double>() - preemptor["submit_time"].get<double>(), 1.0);
  EXPECT_EQ(ended["restart_count"], 0);
}

}  // namespace
}  // namespace weft::testing
