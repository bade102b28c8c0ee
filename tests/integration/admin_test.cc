// Node drain and resume through the CLI, and idempotent submissions, against a real cluster.
#include <gtest/gtest.h>

#include "local_cluster.h"
#include "net/http.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;

std::string NodeField(const LocalCluster& cluster, const std::string& field) {
  const nlohmann::json nodes = cluster.Get("/v1/nodes");
  return nodes["nodes"][0].value(field, "");
}

TEST(AdminTest, DrainLetsRunningJobsFinishAndTakesNoNewWorkUntilResumed) {
  LocalCluster cluster(1, AgentSpec{2, "1G", 0});
  const std::string node = cluster.agent_names().at(0);
  const std::string release = cluster.dir() + "/release";
  const long long running = cluster.SubmitScript(
      "long.sh", "#!/bin/sh\nwhile [ ! -e " + release + " ]; do sleep 0.05; done\n", {"-c", "2"});
  ASSERT_TRUE(PollUntil([&] { return cluster.Job(running)["state"] == "RUNNING"; }, 30s));

  const CommandResult drained = cluster.Weft({"node", "drain", node, "--reason", "disk check"});
  ASSERT_EQ(drained.exit_code, 0) << drained.err;
  EXPECT_EQ(NodeField(cluster, "state"), "DRAINING");
  EXPECT_EQ(NodeField(cluster, "drain_reason"), "disk check");
  const long long waiting = cluster.SubmitScript("short.sh", "#!/bin/sh\ntrue\n", {"-c", "1"});
  WriteFile(release, "");
  EXPECT_EQ(cluster.WaitFinal(running)["state"], "COMPLETED");  // the drain let it finish
  EXPECT_TRUE(PollUntil([&] { return NodeField(cluster, "state") == "DRAINED"; }, 30s));
  EXPECT_EQ(cluster.Job(waiting)["state"], "PENDING");  // nothing new while drained

  ASSERT_EQ(cluster.Weft({"node", "resume", node}).exit_code, 0);
  EXPECT_EQ(cluster.WaitFinal(waiting)["state"], "COMPLETED");
  EXPECT_EQ(NodeField(cluster, "state"), "UP");
  const CommandResult unknown = cluster.Weft({"node", "drain", "no-such-node"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("no-such-node"), std::string::npos) << unknown.err;
}

TEST(AdminTest, ResentSubmissionWithTheSameKeyReturnsTheSameJob) {
  LocalCluster cluster(1, AgentSpec{2, "1G", 0});
  net::HttpClient http(cluster.url(), cluster.token());
  auto post = [&](const std::string& key) {
    nlohmann::json body = {{"spec",
                            {{"name", "once"},
                             {"script", "#!/bin/sh\ntrue\n"},
                             {"submit_dir", cluster.work_dir()},
                             {"work_dir", cluster.work_dir()},
                             {"resources", {{"cpu_milli", 1000}}}}}};
    if (!key.empty()) body["idempotency_key"] = key;
    auto r = http.Post("/v1/jobs", body.dump());
    EXPECT_TRUE(r.has_value());
    return nlohmann::json::parse(r->body)["id"].get<long long>();
  };
  const long long first = post("retry-me");
  EXPECT_EQ(post("retry-me"), first);
  EXPECT_NE(post(""), first);
  cluster.KillServer(SIGKILL);
  cluster.StartServer();
  EXPECT_EQ(post("retry-me"), first);  // the key is durable with the job
  EXPECT_EQ(cluster.Get("/v1/jobs")["jobs"].size(), 2u);
}

}  // namespace
}  // namespace weft::testing
