// Isolation with real agents, real cgroups and real processes: memory limits and OOM kills,
// neighbours that survive, fork bombs held by the pids limit, CPU bandwidth, jobs run as
// their owner, accounting, and --require-isolation placement.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "local_cluster.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;

// What the cluster's (first) node enforces, as `weft nodes` reports it.
std::string Isolation(const LocalCluster& cluster, const std::string& node = "") {
  const nlohmann::json nodes = cluster.Get("/v1/nodes");
  for (const auto& n : nodes["nodes"]) {
    if (node.empty() || n["name"] == node) return n.value("isolation", "");
  }
  return "";
}

#define SKIP_WITHOUT_CGROUP_LIMITS(cluster)                                                  \
  do {                                                                                       \
    const std::string enforced = Isolation(cluster);                                         \
    if (enforced.find("memory") == std::string::npos || enforced.find("pids") == std::string::npos) \
      GTEST_SKIP() << "this host's agent enforces only: " << enforced;                       \
  } while (0)

TEST(IsolationTest, MemoryHogIsOomKilledAndItsNeighbourCompletes) {
  LocalCluster cluster(1, AgentSpec{4, "4G", 0});
  SKIP_WITHOUT_CGROUP_LIMITS(cluster);
  const long long hog = cluster.SubmitScript(
      "hog.sh", "#!/bin/sh\npython3 -c \"s = 'a' * (256 << 20); print(len(s))\"\necho survived\n",
      {"--mem", "64M", "-c", "1"});
  const long long neighbour = cluster.SubmitScript(
      "calm.sh", "#!/bin/sh\npython3 -c \"s = 'b' * (16 << 20)\"\nsleep 1\necho neighbour-done\n",
      {"--mem", "128M", "-c", "1"});

  const nlohmann::json dead = cluster.WaitFinal(hog);
  const nlohmann::json alive = cluster.WaitFinal(neighbour);

  EXPECT_EQ(dead["state"], "OOM_KILLED") << dead.dump();
  EXPECT_NE(dead["reason"].get<std::string>().find("out of memory"), std::string::npos);
  const nlohmann::json& task = dead["ranks"][0]["task"];
  EXPECT_TRUE(task["exit"]["oom_killed"].get<bool>());
  EXPECT_EQ(task["usage"]["memory_limit_bytes"], 64LL << 20);
  EXPECT_GT(task["usage"]["memory_peak_bytes"].get<long long>(), 32LL << 20);  // it got near the limit
  EXPECT_LE(task["usage"]["memory_peak_bytes"].get<long long>(), (64LL << 20) + (1 << 20));
  const CommandResult show = cluster.Weft({"show", std::to_string(hog)});
  EXPECT_NE(show.out.find("oom_killed"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("mem_limit=64M"), std::string::npos) << show.out;

  EXPECT_EQ(alive["state"], "COMPLETED") << alive.dump();
  EXPECT_NE(ReadFile(alive["ranks"][0]["task"]["output_path"]).find("neighbour-done"), std::string::npos);
}

TEST(IsolationTest, ForkBombIsHeldByThePidsLimitAndTakesNothingDown) {
  LocalCluster cluster(1, AgentSpec{4, "4G", 0}, "", {"--pids-limit", "40"});
  SKIP_WITHOUT_CGROUP_LIMITS(cluster);
  // Bounded: at most 400 sleeping children even if nothing held it.
  const long long bomb = cluster.SubmitScript("bomb.sh",
                                              "#!/usr/bin/env python3\n"
                                              "import os, time\n"
                                              "n = 0\n"
                                              "for i in range(400):\n"
                                              "    try:\n"
                                              "        pid = os.fork()\n"
                                              "    except OSError:\n"
                                              "        break\n"
                                              "    if pid == 0:\n"
                                              "        time.sleep(60)\n"
                                              "        os._exit(0)\n"
                                              "    n += 1\n"
                                              "print('forked', n, flush=True)\n",
                                              {"-c", "1"});
  const long long neighbour = cluster.SubmitScript("calm.sh", "#!/bin/sh\necho fine\n", {"-c", "1"});

  const nlohmann::json ended = cluster.WaitFinal(bomb);
  const nlohmann::json calm = cluster.WaitFinal(neighbour);

  EXPECT_EQ(ended["state"], "COMPLETED") << ended.dump();
  const std::string out = ReadFile(ended["ranks"][0]["task"]["output_path"]);
  ASSERT_EQ(out.rfind("forked ", 0), 0u) << out;
  EXPECT_LT(std::stoi(out.substr(7)), 40) << out;
  EXPECT_EQ(calm["state"], "COMPLETED");
}

TEST(IsolationTest, BusyLoopIsHeldToItsCpuShare) {
  LocalCluster cluster(1, AgentSpec{4, "4G", 0});
  SKIP_WITHOUT_CGROUP_LIMITS(cluster);
  if (Isolation(cluster).find("cpu") == std::string::npos) GTEST_SKIP() << "no CPU bandwidth control here";
  // Three busy processes for 1.5 s asking for one CPU; the script prints the quota its
  // cgroup carries (v1 cpu.cfs_quota_us, v2 cpu.max) and the CPU time the loop used.
  const long long id = cluster.SubmitScript(
      "busy.sh",
      "#!/usr/bin/env python3\n"
      "import os, time\n"
      "for line in open('/proc/self/cgroup'):\n"
      "    _, ctrl, path = line.strip().split(':', 2)\n"
      "    if ctrl == 'cpu' or ctrl.startswith('cpu,'):\n"
      "        print('quota', open('/sys/fs/cgroup/' + ctrl + path + '/cpu.cfs_quota_us').read().strip())\n"
      "    elif ctrl == '' and os.path.exists('/sys/fs/cgroup' + path + '/cpu.max'):\n"
      "        print('quota', open('/sys/fs/cgroup' + path + '/cpu.max').read().split()[0])\n"
      "start = time.time()\n"
      "kids = []\n"
      "for i in range(3):\n"
      "    pid = os.fork()\n"
      "    if pid == 0:\n"
      "        while time.time() - start < 1.5: pass\n"
      "        os._exit(0)\n"
      "    kids.append(pid)\n"
      "for k in kids: os.waitpid(k, 0)\n"
      "wall = time.time() - start\n"
      "t = os.times()\n"
      "print('cpu', t.children_user + t.children_system, 'wall', wall, flush=True)\n",
      {"-c", "1"});
  const nlohmann::json job = cluster.WaitFinal(id);
  ASSERT_EQ(job["state"], "COMPLETED") << job.dump();
  const std::string out = ReadFile(job["ranks"][0]["task"]["output_path"]);
  EXPECT_NE(out.find("quota 100000"), std::string::npos) << out;  // one CPU per 100 ms period
  const auto cpu_at = out.find("cpu ");
  ASSERT_NE(cpu_at, std::string::npos) << out;
  double cpu = 0, wall = 0;
  ASSERT_EQ(std::sscanf(out.c_str() + cpu_at, "cpu %lf wall %lf", &cpu, &wall), 2) << out;
  EXPECT_LT(cpu, wall * 1.25 + 0.1) << out;  // unlimited, three loops would take ~2 cores here
  EXPECT_GT(cpu, 0.3) << out;
}

// Runs `argv` and fails the test unless it exits 0.
void MustRun(const std::vector<std::string>& argv) {
  const CommandResult r = RunProgram(argv, {}, "/");
  ASSERT_EQ(r.exit_code, 0) << argv[0] << ": " << r.err;
}

TEST(IsolationTest, JobRunsAsTheUserWhoseTokenSubmittedIt) {
  if (::geteuid() != 0 || !std::filesystem::exists("/usr/sbin/useradd")) GTEST_SKIP() << "needs root and useradd";
  const std::string user = "weftit" + std::to_string(::getpid() % 100000);
  MustRun({"/usr/sbin/useradd", "--create-home", "--shell", "/bin/sh", user});
  struct Cleanup {
    std::string user;
    ~Cleanup() { RunProgram({"/usr/sbin/userdel", "--remove", user}, {}, "/"); }
  } cleanup{user};
  const passwd* pw = ::getpwnam(user.c_str());
  ASSERT_NE(pw, nullptr);
  const uid_t uid = pw->pw_uid;
  const std::string home = pw->pw_dir;

  LocalCluster cluster(1, AgentSpec{4, "4G", 0});
  const CommandResult added = cluster.Weft({"user", "add", user});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  std::string token = added.out;
  token.erase(token.find_last_not_of("\n") + 1);
  // The user's own directory, and a way through the test's private temp dir to it and to the
  // agent's task scripts (as a real node's spool and home directories are).
  ASSERT_EQ(::chmod(cluster.dir().c_str(), 0755), 0);
  const std::string work = cluster.dir() + "/userwork";
  std::filesystem::create_directories(work);
  ASSERT_EQ(::chown(work.c_str(), uid, pw->pw_gid), 0);
  WriteFile(work + "/who.sh", "#!/bin/sh\nid -un\nid -u\necho \"home=$HOME user=$USER\"\ntouch made-by-job\n");

  const CommandResult submitted = cluster.WeftAs(token, work, {"submit", "--parsable", "who.sh"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const long long id = std::stoll(submitted.out);
  const nlohmann::json job = cluster.WaitFinal(id);

  EXPECT_EQ(job["user"], user);
  ASSERT_EQ(job["state"], "COMPLETED") << job.dump() << ReadFile(job["ranks"][0]["task"]["output_path"]);
  const std::string out_path = job["ranks"][0]["task"]["output_path"];
  const std::string out = ReadFile(out_path);
  EXPECT_EQ(out, user + "\n" + std::to_string(uid) + "\nhome=" + home + " user=" + user + "\n");
  struct stat made {};
  ASSERT_EQ(::stat((work + "/made-by-job").c_str(), &made), 0);
  EXPECT_EQ(made.st_uid, uid);
  struct stat output {};
  ASSERT_EQ(::stat(out_path.c_str(), &output), 0);
  EXPECT_EQ(output.st_uid, uid);  // the output file is the user's too

  // The user sees their job and history, not other users' (the admin's job here).
  const long long admins = cluster.SubmitScript("root.sh", "#!/bin/sh\nid -u\n");
  cluster.WaitFinal(admins);
  EXPECT_EQ(ReadFile(cluster.Job(admins)["ranks"][0]["task"]["output_path"]), "0\n");  // root's own job
  const CommandResult history = cluster.WeftAs(token, work, {"history", "-o", "json"});
  ASSERT_EQ(history.exit_code, 0) << history.err;
  const nlohmann::json rows = nlohmann::json::parse(history.out)["attempts"];
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["job_id"], id);
  EXPECT_NE(cluster.WeftAs(token, work, {"cancel", std::to_string(admins)}).exit_code, 0);
}

TEST(IsolationTest, AccountingShowsLiveAndFinalUsage) {
  LocalCluster cluster(1, AgentSpec{4, "4G", 1});
  SKIP_WITHOUT_CGROUP_LIMITS(cluster);
  const std::string release = cluster.dir() + "/release";
  const long long id = cluster.SubmitScript(
      "acct.sh",
      "#!/usr/bin/env python3\nimport os, time\ns = 'c' * (48 << 20)\nt = time.time()\n"
      "while time.time() - t < 0.5: pass\n"
      "while not os.path.exists('" + release + "'): time.sleep(0.05)\n",
      {"--mem", "256M", "--gpus-per-node", "1", "-c", "1"});
  // Live: memory in use while it runs.
  const bool live = PollUntil(
      [&] {
        const nlohmann::json job = cluster.Job(id);
        return job["usage"].is_object() && job["usage"]["memory_current_bytes"].get<long long>() > (40LL << 20);
      },
      30s);
  EXPECT_TRUE(live) << cluster.Job(id).dump();
  const CommandResult show = cluster.Weft({"show", std::to_string(id)});
  EXPECT_NE(show.out.find("Usage"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("limit=256M"), std::string::npos) << show.out;
  WriteFile(release, "");
  cluster.WaitFinal(id);

  const CommandResult history = cluster.Weft({"history", "-o", "json"});
  ASSERT_EQ(history.exit_code, 0) << history.err;
  const nlohmann::json rows = nlohmann::json::parse(history.out)["attempts"];
  ASSERT_EQ(rows.size(), 1u);
  const nlohmann::json& row = rows[0];
  EXPECT_EQ(row["state"], "COMPLETED");
  EXPECT_GT(row["cpu_s"].get<double>(), 0.3);
  EXPECT_GT(row["memory_peak_bytes"].get<long long>(), 48LL << 20);
  EXPECT_EQ(row["memory_limit_bytes"], 256LL << 20);
  EXPECT_GT(row["gpu_s"].get<double>(), 0.4);  // one GPU for the whole run
  EXPECT_NEAR(row["gpu_s"].get<double>(), row["elapsed_s"].get<double>(), 0.01);
  const CommandResult table = cluster.Weft({"history", "--since", "1h"});
  EXPECT_NE(table.out.find("COMPLETED"), std::string::npos) << table.out;
  const CommandResult bad = cluster.Weft({"history", "--since", "last tuesday"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--since"), std::string::npos) << bad.err;
}

TEST(IsolationTest, RequireIsolationAvoidsNodesThatDoNotEnforceIt) {
  LocalCluster cluster(1, AgentSpec{4, "4G", 0}, "", {"--isolation", "off"});
  const std::string plain = cluster.agent_names().at(0);
  EXPECT_EQ(Isolation(cluster, plain).find("memory"), std::string::npos);
  // Nothing could run it yet: refused at submit, naming why.
  const CommandResult refused = cluster.Weft({"run", "--require-isolation", "--", "true"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("isolation"), std::string::npos) << refused.err;

  const std::string isolated = cluster.AddAgent(AgentSpec{4, "4G", 0});
  if (Isolation(cluster, isolated).find("memory") == std::string::npos) GTEST_SKIP() << "no cgroups here";
  const CommandResult nodes = cluster.Weft({"nodes"});
  EXPECT_NE(nodes.out.find("memory,cpu,pids"), std::string::npos) << nodes.out;
  for (int i = 0; i < 3; ++i) {
    const long long id = cluster.SubmitScript("iso.sh", "#!/bin/sh\ntrue\n", {"--require-isolation"});
    const nlohmann::json job = cluster.WaitFinal(id);
    EXPECT_EQ(job["state"], "COMPLETED");
    EXPECT_EQ(job["nodes"][0], isolated);
  }
}

}  // namespace
}  // namespace weft::testing

namespace weft::testing {
namespace {

// `--gpus auto` through NVML (a fake libnvidia-ml built with the tests): the node offers the
// GPUs NVML reports, `weft nodes` shows each with its UUID, model and memory, and a job is
// told its GPUs.
TEST(IsolationTest, GpusAutoDiscoversThroughNvml) {
  LocalCluster cluster(1, AgentSpec{4, "4G", 0}, "", {"--gpus", "auto", "--nvml-library", WEFT_FAKE_NVML_PATH});
  const nlohmann::json nodes = cluster.Get("/v1/nodes");
  ASSERT_EQ(nodes["nodes"].size(), 1u);
  const nlohmann::json& node = nodes["nodes"][0];
  EXPECT_EQ(node["capacity"]["gpus"], 2);
  EXPECT_EQ(node["gpu_model"], "NVIDIA H100 80GB HBM3");
  ASSERT_EQ(node["gpus"].size(), 2u);
  EXPECT_EQ(node["gpus"][1]["index"], 1);
  EXPECT_EQ(node["gpus"][1]["uuid"], "GPU-fa4e0000-0000-0000-0000-000000000001");
  EXPECT_EQ(node["gpus"][1]["memory_bytes"], 80LL << 30);
  const CommandResult table = cluster.Weft({"nodes"});
  EXPECT_NE(table.out.find("GPU-fa4e0000-0000-0000-0000-000000000000"), std::string::npos) << table.out;

  const long long id = cluster.SubmitScript("gpu.sh", "#!/bin/sh\necho visible=$CUDA_VISIBLE_DEVICES\n",
                                            {"--gpus-per-node", "1"});
  const nlohmann::json job = cluster.WaitFinal(id);
  ASSERT_EQ(job["state"], "COMPLETED");
  const std::string out = ReadFile(job["ranks"][0]["task"]["output_path"]);
  EXPECT_EQ(out.rfind("visible=", 0), 0u) << out;
  EXPECT_NE(out, "visible=\n");
  // Its utilization, sampled through NVML while it ran, is in its record where measured.
  const nlohmann::json history = nlohmann::json::parse(cluster.Weft({"history", "-o", "json"}).out);
  ASSERT_EQ(history["attempts"].size(), 1u);
  EXPECT_GT(history["attempts"][0]["gpu_s"].get<double>(), 0);
}

// No NVML on the node: zero GPUs and one log line, not a failed agent.
TEST(IsolationTest, GpusAutoWithoutNvmlOffersNoGpus) {
  LocalCluster cluster(1, AgentSpec{4, "4G", 0}, "", {"--gpus", "auto", "--nvml-library", "/nonexistent/libnvidia-ml.so.1"});
  const nlohmann::json nodes = cluster.Get("/v1/nodes");
  ASSERT_EQ(nodes["nodes"].size(), 1u);
  EXPECT_EQ(nodes["nodes"][0]["capacity"]["gpus"], 0);
  EXPECT_TRUE(nodes["nodes"][0]["gpus"].empty());
}

}  // namespace
}  // namespace weft::testing
