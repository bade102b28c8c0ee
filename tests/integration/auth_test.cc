// Agents join with the server's join token (DIR/join_token), which opens the agent routes and
// nothing else; user and admin tokens cannot act as agents.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "daemon.h"
#include "local_cluster.h"
#include "net/http.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;

std::string Trimmed(std::string text) {
  text.erase(text.find_last_not_of(" \n") + 1);
  return text;
}

bool HasNode(const LocalCluster& cluster, const std::string& name) {
  const nlohmann::json nodes = cluster.Get("/v1/nodes");  // kept: the loop reads into it
  for (const auto& node : nodes["nodes"]) {
    if (node.value("name", "") == name) return true;
  }
  return false;
}

TEST(AgentAuthTest, AgentsNeedTheJoinTokenAndItOpensNothingElse) {
  LocalCluster cluster(1, AgentSpec{1, "1G", 0});  // its agent joined with state/join_token
  const std::string join_path = cluster.dir() + "/state/join_token";
  const std::string join = Trimmed(ReadFile(join_path));
  ASSERT_EQ(join.size(), 64u);
  EXPECT_NE(join, cluster.token());
  struct stat st {};
  ASSERT_EQ(::stat(join_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // The join token cannot list jobs, through the CLI or the API.
  const CommandResult queue = cluster.WeftAs(join, cluster.work_dir(), {"queue"});
  EXPECT_NE(queue.exit_code, 0);
  EXPECT_NE(queue.err.find("join token is accepted only on /v1/agents/"), std::string::npos) << queue.err;
  net::HttpClient as_agent(cluster.url(), join);
  for (const std::string target : {"/v1/jobs", "/v1/nodes", "/v1/users", "/v1/history"}) {
    auto r = as_agent.Get(target);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->status, 403) << target << ": " << r->body;
  }
  auto submit = as_agent.Post("/v1/jobs", R"({"spec": {"name": "x", "script": "#!/bin/sh\ntrue\n"}})");
  ASSERT_TRUE(submit.has_value());
  EXPECT_EQ(submit->status, 403);

  // A user's token and the admin token cannot report a node; an unknown token is 401.
  const CommandResult added = cluster.Weft({"user", "add", "bob"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  const std::string bob = Trimmed(added.out);
  const std::string report = R"({"name": "intruder", "capacity": {"cpu_milli": 1000}})";
  for (const auto& [who, token, status] : std::vector<std::tuple<std::string, std::string, int>>{
           {"user", bob, 403}, {"admin", cluster.token(), 403}, {"unknown", "no-such-token", 401}}) {
    auto r = net::HttpClient(cluster.url(), token).Post("/v1/agents/intruder/report", report);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->status, status) << who << ": " << r->body;
  }
  EXPECT_FALSE(HasNode(cluster, "intruder"));

  // An agent started with the admin token is refused and says why; it never becomes a node.
  Daemon agent({WEFT_BINARY, "agent", "--server", cluster.url(), "--join-token", cluster.token(), "--name",
                "intruder", "--cpus", "1", "--memory", "1G", "--gpus", "0", "--isolation", "off", "--heartbeat",
                "0.2", "--work-dir", cluster.dir() + "/intruder"},
               {}, cluster.dir(), cluster.dir() + "/intruder.log");
  EXPECT_TRUE(agent.WaitForLog("agent routes need the agent join token", 30s)) << agent.Log();
  EXPECT_NE(agent.Log().find("HTTP 403"), std::string::npos) << agent.Log();
  EXPECT_FALSE(HasNode(cluster, "intruder"));
  agent.Stop();

  // Without any join token the agent does not start.
  const CommandResult bare = RunProgram({WEFT_BINARY, "agent", "--server", cluster.url(), "--name", "bare"},
                                        {{"WEFT_JOIN_TOKEN", ""}}, cluster.dir());
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_NE(bare.err.find("--join-token: required"), std::string::npos) << bare.err;

  // WEFT_JOIN_TOKEN works like the flag: this agent joins.
  Daemon joined({WEFT_BINARY, "agent", "--server", cluster.url(), "--name", "via-env", "--cpus", "1", "--memory",
                 "1G", "--gpus", "0", "--isolation", "off", "--heartbeat", "0.2", "--work-dir",
                 cluster.dir() + "/via-env"},
                {{"WEFT_JOIN_TOKEN", join}}, cluster.dir(), cluster.dir() + "/via-env.log");
  EXPECT_TRUE(PollUntil([&] { return HasNode(cluster, "via-env"); }, 30000ms))
      << joined.Log() << cluster.Get("/v1/nodes").dump();
}

}  // namespace
}  // namespace weft::testing
