// Network partitions for real: three agents run as separate hosts in network namespaces on a
// private bridge (netns.h), the server listens on the bridge. One node of a running gang is cut
// off (its link goes down; its agent and task keep running, unseen; its requests time out):
// the node is declared DOWN past the node timeout, the gang is torn down on the surviving node
// and requeued onto the two others. When the link comes back, the returning node is fenced:
// it kills its stale rank before it takes new work.
//
// Each rank appends "start|end <attempt> <rank> <node> <ns>" to marks/log and its pid to
// marks/pid.<attempt>.<rank>; on SIGTERM it lingers 0.5 s before writing "end", so a node that
// took new work before its stale rank was gone would start it before that "end".
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <limits>
#include <sstream>

#include <gtest/gtest.h>

#include "local_cluster.h"
#include "netns.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

struct Mark {
  std::string kind;  // start | end | probe
  int attempt = -1, rank = -1;
  std::string node;
  long long at_ns = 0;
};

std::vector<Mark> ReadMarks(const std::string& path) {
  std::vector<Mark> marks;
  std::istringstream lines(ReadFile(path));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    Mark m;
    if (words >> m.kind >> m.attempt >> m.rank >> m.node >> m.at_ns) marks.push_back(m);
  }
  return marks;
}

const Mark* FindMark(const std::vector<Mark>& marks, const std::string& kind, int attempt, int rank) {
  for (const Mark& m : marks) {
    if (m.kind == kind && m.attempt == attempt && m.rank == rank) return &m;
  }
  return nullptr;
}

std::string NodeState(const LocalCluster& cluster, const std::string& name) {
  const nlohmann::json nodes = cluster.Get("/v1/nodes");
  for (const auto& n : nodes["nodes"]) {
    if (n["name"] == name) return n["state"];
  }
  return "";
}

pid_t PidOf(const std::string& path) { return static_cast<pid_t>(std::atoi(ReadFile(path).c_str())); }

// The inode naming a network namespace (a /proc/PID/ns/net link or a /run/netns file).
ino_t NetnsInode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// A 2-node --requeue gang of the cluster's agents, running: each rank logs start/end marks
// (see the top of this file) and its pid.
struct RunningGang {
  long long id = 0;
  std::string marks, log, survivor, victim;  // victim: the node of rank 1
  int victim_index = -1;                     // its agent's index
  pid_t survivor_pid = 0, stale_pid = 0;     // rank 0's and rank 1's main process
};

void StartGang(LocalCluster& cluster, NetnsHosts& net, RunningGang& g) {
  const std::vector<std::string> names = cluster.agent_names();
  g.marks = cluster.dir() + "/marks";
  std::filesystem::create_directories(g.marks);
  g.log = g.marks + "/log";
  g.id = cluster.SubmitScript(
      "gang.sh",
      "#!/bin/bash\n"
      "A=$WEFT_RESTART_COUNT R=$WEFT_NODE_RANK N=$SLURMD_NODENAME\n"
      "echo \"start $A $R $N $(date +%s%N)\" >> " + g.log + "\n"
      "echo $$ > " + g.marks + "/pid.$A.$R\n"
      "trap 'sleep 0.5; echo \"end $A $R $N $(date +%s%N)\" >> " + g.log + "; exit 0' TERM\n"
      "while true; do sleep 0.1; done\n",
      {"-N", "2", "-c", "2", "--requeue"});
  ASSERT_TRUE(PollUntil(
      [&] {
        const auto m = ReadMarks(g.log);
        return FindMark(m, "start", 0, 0) && FindMark(m, "start", 0, 1);
      },
      30s))
      << cluster.Job(g.id).dump();
  const nlohmann::json first = cluster.Job(g.id);
  ASSERT_EQ(first["state"], "RUNNING");
  g.survivor = first["nodes"][0];
  g.victim = first["nodes"][1];
  g.victim_index = static_cast<int>(std::find(names.begin(), names.end(), g.victim) - names.begin());
  ASSERT_LT(g.victim_index, 3);
  // The ranks really run in their hosts' namespaces.
  g.survivor_pid = PidOf(g.marks + "/pid.0.0");
  g.stale_pid = PidOf(g.marks + "/pid.0.1");
  ASSERT_GT(g.survivor_pid, 0);
  ASSERT_GT(g.stale_pid, 0);
  EXPECT_NE(NetnsInode("/run/netns/" + net.ns_name(g.victim_index)), 0u);
  EXPECT_EQ(NetnsInode("/proc/" + std::to_string(g.stale_pid) + "/ns/net"),
            NetnsInode("/run/netns/" + net.ns_name(g.victim_index)));
}

// The cluster network for `net`: the server on the bridge, each agent in its namespace.
ClusterNetwork OnBridge(NetnsHosts& net) {
  ClusterNetwork network;
  network.listen_host = net.bridge_ip();
  network.agent_prefix = [&net](int i) { return net.ExecPrefix(i); };
  network.agent_address = [&net](int i) { return net.host_ip(i); };
  return network;
}

TEST(PartitionTest, CutNodeFailsTheGangWhichRequeuesOnTheOthersAndTheRestoredNodeIsFencedFirst) {
  NetnsHosts net(3);
  if (!net.ok()) GTEST_SKIP() << "cannot build network namespaces (needs root / CAP_NET_ADMIN): " << net.error();
  constexpr int kNodeTimeoutS = 2;
  // Agents that never fence themselves: the cut-off rank runs on, and the controller's fencing
  // of the returning node is what is tested here.
  LocalCluster cluster(3, AgentSpec{2, "2G", 0}, "", {"--fence-after", "0"},
                       {"--node-timeout", std::to_string(kNodeTimeoutS)}, OnBridge(net));
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(cluster.url().rfind("http://" + net.bridge_ip() + ":", 0), 0u) << cluster.url();
  const std::vector<std::string> names = cluster.agent_names();
  RunningGang gang;
  StartGang(cluster, net, gang);
  ASSERT_FALSE(HasFailure());
  const long long id = gang.id;
  const std::string &marks = gang.marks, &log = gang.log, &survivor = gang.survivor, &victim = gang.victim;
  const int victim_index = gang.victim_index;
  const pid_t survivor_pid = gang.survivor_pid, stale_pid = gang.stale_pid;

  // Cut the victim off mid-job.
  ASSERT_TRUE(net.Cut(victim_index));
  const auto cut_at = SteadyClock::now();
  // Requeued as attempt 1 on the two others, both ranks started, within the timeout + margin.
  ASSERT_TRUE(PollUntil(
      [&] {
        const auto m = ReadMarks(log);
        return FindMark(m, "start", 1, 0) && FindMark(m, "start", 1, 1);
      },
      std::chrono::seconds(kNodeTimeoutS + 25)))
      << cluster.Job(id).dump();
  const double requeue_s = std::chrono::duration<double>(SteadyClock::now() - cut_at).count();
  std::printf("partition: attempt 1 running %.2f s after the cut (node timeout %d s)\n", requeue_s, kNodeTimeoutS);
  EXPECT_EQ(NodeState(cluster, victim), "DOWN");
  const nlohmann::json second = cluster.Job(id);
  EXPECT_EQ(second["state"], "RUNNING");
  EXPECT_EQ(second["restart_count"], 1);
  ASSERT_EQ(second["attempts"].size(), 1u) << second.dump();
  EXPECT_EQ(second["attempts"][0]["state"], "NODE_FAIL");
  EXPECT_NE(second["node_failure"].get<std::string>().find(victim), std::string::npos);
  ASSERT_EQ(second["nodes"].size(), 2u);
  for (const auto& node : second["nodes"]) EXPECT_NE(node, victim);

  // Gang teardown: the surviving node's rank of attempt 0 was killed, before attempt 1 began.
  std::vector<Mark> m = ReadMarks(log);
  const Mark* survivor_end = FindMark(m, "end", 0, 0);
  ASSERT_NE(survivor_end, nullptr) << ReadFile(log);
  EXPECT_EQ(survivor_end->node, survivor);
  EXPECT_TRUE(PollUntil([&] { return !ProcessAlive(survivor_pid); }, 10s));
  const long long attempt1_start = std::min(FindMark(m, "start", 1, 0)->at_ns, FindMark(m, "start", 1, 1)->at_ns);
  EXPECT_LT(survivor_end->at_ns, attempt1_start) << ReadFile(log);
  // The cut-off rank cannot be told anything: it still runs, unseen.
  EXPECT_EQ(FindMark(m, "end", 0, 1), nullptr);
  EXPECT_TRUE(ProcessAlive(stale_pid));

  // A job that fits only the cut-off node waits while it is away...
  const std::string probe_log = marks + "/probe";
  const long long probe = cluster.SubmitScript(
      "probe.sh", "#!/bin/sh\necho \"probe 0 0 $SLURMD_NODENAME $(date +%s%N)\" >> " + probe_log + "\n", {"-c", "2"});
  EXPECT_EQ(cluster.Job(probe)["state"], "PENDING");
  // The partition lasts until the cut-off agent has seen its own requests fail (they time
  // out: nothing answers, nothing refuses), so the restore exercises its reconnection.
  const std::string victim_log = cluster.dir() + "/agent-" + victim + ".log";
  EXPECT_TRUE(PollUntil(
      [&] {
        const std::string text = ReadFile(victim_log);
        return text.find("cannot report to the controller") != std::string::npos ||
               text.find("cannot watch assignments") != std::string::npos;
      },
      40s))
      << ReadFile(victim_log);
  EXPECT_EQ(cluster.Job(probe)["state"], "PENDING");
  EXPECT_TRUE(ProcessAlive(stale_pid));
  // ...and runs there once the link is back and its stale rank is gone (fencing).
  ASSERT_TRUE(net.Restore(victim_index));
  const auto restored_at = SteadyClock::now();
  EXPECT_EQ(cluster.WaitFinal(probe, 60s)["state"], "COMPLETED") << cluster.Job(probe).dump();
  std::printf("partition: returning node fenced, cleaned and working %.2f s after the restore\n",
              std::chrono::duration<double>(SteadyClock::now() - restored_at).count());
  EXPECT_EQ(NodeState(cluster, victim), "UP");
  m = ReadMarks(log);
  const Mark* stale_end = FindMark(m, "end", 0, 1);
  ASSERT_NE(stale_end, nullptr) << "stale rank never stopped: " << ReadFile(log);
  EXPECT_TRUE(PollUntil([&] { return !ProcessAlive(stale_pid); }, 10s));
  const std::vector<Mark> probes = ReadMarks(probe_log);
  ASSERT_EQ(probes.size(), 1u) << ReadFile(probe_log);
  EXPECT_EQ(probes[0].node, victim);
  EXPECT_GT(probes[0].at_ns, stale_end->at_ns) << "the returning node took new work before its stale rank ended";
  // The job was not restarted again by the return: still attempt 1 on the same two nodes.
  const nlohmann::json third = cluster.Job(id);
  EXPECT_EQ(third["restart_count"], 1);
  EXPECT_EQ(third["nodes"], second["nodes"]);

  // No node ever ran two attempts at once; attempt 1 ran only after every rank of attempt 0
  // that the controller could reach had ended. The one overlap left is the cut-off rank,
  // which ran unseen until its link came back: these agents do not fence themselves (the
  // next test's do).
  for (const Mark& a : m) {
    if (a.kind != "start") continue;
    const Mark* a_end = FindMark(m, "end", a.attempt, a.rank);
    const long long a_stop = a_end ? a_end->at_ns : std::numeric_limits<long long>::max();
    for (const Mark& b : m) {
      if (b.kind != "start" || b.attempt == a.attempt || b.node != a.node) continue;
      const Mark* b_end = FindMark(m, "end", b.attempt, b.rank);
      const long long b_stop = b_end ? b_end->at_ns : std::numeric_limits<long long>::max();
      EXPECT_FALSE(a.at_ns < b_stop && b.at_ns < a_stop)
          << "node " << a.node << " ran attempts " << a.attempt << " and " << b.attempt << " at once: " << ReadFile(log);
    }
  }
  std::printf("partition: the cut-off rank ran unseen for %.2f s beside attempt 1\n",
              static_cast<double>(stale_end->at_ns - attempt1_start) / 1e9);
  EXPECT_EQ(cluster.Weft({"cancel", std::to_string(id)}).exit_code, 0);
  EXPECT_EQ(cluster.WaitFinal(id)["state"], "CANCELLED");
}

// With self-fencing agents (--fence-after below the server's node timeout) the cut-off node
// kills its rank before the controller declares it DOWN: the job never runs twice at once,
// on any node.
TEST(PartitionTest, CutOffAgentFencesItselfBeforeTheGangRunsElsewhere) {
  NetnsHosts net(3);
  if (!net.ok()) GTEST_SKIP() << "cannot build network namespaces (needs root / CAP_NET_ADMIN): " << net.error();
  LocalCluster cluster(3, AgentSpec{2, "2G", 0}, "", {"--fence-after", "1"}, {"--node-timeout", "3"}, OnBridge(net));
  ASSERT_FALSE(HasFailure());
  RunningGang gang;
  StartGang(cluster, net, gang);
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(net.Cut(gang.victim_index));
  // The fenced rank dies unseen (SIGKILL: no end mark): note when it was seen gone.
  ASSERT_TRUE(PollUntil([&] { return !ProcessAlive(gang.stale_pid); }, 20s)) << "the cut-off rank was not fenced";
  const long long stale_gone_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
  ASSERT_TRUE(PollUntil(
      [&] {
        const auto m = ReadMarks(gang.log);
        return FindMark(m, "start", 1, 0) && FindMark(m, "start", 1, 1);
      },
      30s))
      << cluster.Job(gang.id).dump();
  const std::vector<Mark> m = ReadMarks(gang.log);
  const long long attempt1_start = std::min(FindMark(m, "start", 1, 0)->at_ns, FindMark(m, "start", 1, 1)->at_ns);
  EXPECT_LT(stale_gone_ns, attempt1_start) << "attempt 1 started while the cut-off rank still ran";
  const Mark* survivor_end = FindMark(m, "end", 0, 0);
  ASSERT_NE(survivor_end, nullptr) << ReadFile(gang.log);
  EXPECT_LT(survivor_end->at_ns, attempt1_start);
  const nlohmann::json job = cluster.Job(gang.id);
  EXPECT_EQ(job["restart_count"], 1);
  ASSERT_EQ(job["attempts"].size(), 1u) << job.dump();
  EXPECT_EQ(job["attempts"][0]["state"], "NODE_FAIL");
  ASSERT_TRUE(net.Restore(gang.victim_index));
  EXPECT_TRUE(PollUntil([&] { return NodeState(cluster, gang.victim) == "UP"; }, 30s));
  EXPECT_EQ(cluster.Weft({"cancel", std::to_string(gang.id)}).exit_code, 0);
  EXPECT_EQ(cluster.WaitFinal(gang.id)["state"], "CANCELLED");
}

}  // namespace
}  // namespace weft::testing
