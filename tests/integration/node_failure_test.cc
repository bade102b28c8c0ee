// Node failure with real agents: an agent that falls silent past the server's node timeout
// has its node declared DOWN; the gang running there is torn down on every node and requeued
// elsewhere; the agent that comes back is fenced until its stale rank is killed.
#include <signal.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "local_cluster.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;

// True while a live process carries exactly `entry` ("NAME=value") in its environment.
bool AnyProcessHasEnv(const std::string& entry) {
  for (const auto& dir : std::filesystem::directory_iterator("/proc")) {
    const std::string name = dir.path().filename();
    if (name.empty() || name[0] < '1' || name[0] > '9') continue;
    const std::string env = ReadFile(dir.path().string() + "/environ");
    std::size_t at = 0;
    while ((at = env.find(entry, at)) != std::string::npos) {
      const bool starts = at == 0 || env[at - 1] == '\0';
      const bool ends = at + entry.size() == env.size() || env[at + entry.size()] == '\0';
      if (starts && ends && ProcessAlive(std::stoi(name))) return true;
      at += entry.size();
    }
  }
  return false;
}

std::string NodeState(const LocalCluster& cluster, const std::string& name) {
  const nlohmann::json nodes = cluster.Get("/v1/nodes");
  for (const auto& n : nodes["nodes"]) {
    if (n["name"] == name) return n["state"];
  }
  return "";
}

TEST(NodeFailureTest, SilentNodeFailsTheGangWhichRequeuesElsewhereAndTheReturningNodeIsFenced) {
  LocalCluster cluster(3, AgentSpec{2, "2G", 0}, "", {}, {"--node-timeout", "2"});
  const std::vector<std::string> names = cluster.agent_names();
  const long long id = cluster.SubmitScript("gang.sh", "#!/bin/sh\nwhile true; do sleep 0.2; done\n",
                                            {"-N", "2", "-c", "2", "--requeue"});
  // Both ranks started by their agents (not just allocated).
  ASSERT_TRUE(PollUntil(
      [&] {
        const nlohmann::json job = cluster.Job(id);
        if (job["state"] != "RUNNING") return false;
        for (const auto& rank : job["ranks"]) {
          if (rank["task"]["phase"] != "RUNNING") return false;
        }
        return true;
      },
      30s));
  const nlohmann::json first = cluster.Job(id);
  const std::string victim = first["nodes"][1];
  int victim_index = -1;
  for (int i = 0; i < 3; ++i) {
    if (names[i] == victim) victim_index = i;
  }
  ASSERT_GE(victim_index, 0);

  // The victim's agent dies (SIGKILL): its rank keeps running, unseen.
  cluster.KillAgent(victim_index, SIGKILL);
  ASSERT_TRUE(PollUntil([&] { return NodeState(cluster, victim) == "DOWN"; }, 20s));
  // Requeued as attempt 1 on the two live nodes.
  ASSERT_TRUE(PollUntil(
      [&] {
        const nlohmann::json job = cluster.Job(id);
        return job["state"] == "RUNNING" && job["restart_count"] == 1;
      },
      30s))
      << cluster.Job(id).dump();
  const nlohmann::json second = cluster.Job(id);
  for (const auto& node : second["nodes"]) EXPECT_NE(node, victim);
  EXPECT_NE(second["node_failure"].get<std::string>().find(victim), std::string::npos);
  ASSERT_EQ(second["attempts"].size(), 1u);
  EXPECT_EQ(second["attempts"][0]["state"], "NODE_FAIL");

  // The agent returns and re-adopts its stale rank of attempt 0: it is killed (no longer
  // assigned), and only then does the node take work again.
  const int stale_rank = 1;  // the victim held rank 1 of attempt 0
  const std::string stale = "WEFT_TASK_MARKER=" + victim + "/" + std::to_string(id) + "." + std::to_string(stale_rank);
  ASSERT_TRUE(AnyProcessHasEnv(stale)) << stale;  // still running while its agent is away
  cluster.RestartAgent(victim_index);
  ASSERT_TRUE(PollUntil([&] { return NodeState(cluster, victim) == "UP"; }, 20s));
  EXPECT_TRUE(PollUntil([&] { return !AnyProcessHasEnv(stale); }, 20s));
  EXPECT_EQ(cluster.Job(id)["restart_count"], 1);  // never ran twice at once
  // The gang holds both other nodes whole: a job that fits only the returned node runs there.
  const CommandResult fits = cluster.Weft({"run", "-c", "2", "--", "hostname"});
  EXPECT_EQ(fits.exit_code, 0) << fits.err;
  EXPECT_TRUE(cluster.Weft({"cancel", std::to_string(id)}).exit_code == 0);
  cluster.WaitFinal(id);
}

}  // namespace
}  // namespace weft::testing
