// Batch and gang jobs on a real cluster: environment, placement, lifecycle, logs.
#include <signal.h>

#include <set>
#include <thread>
#include <sstream>

#include <gtest/gtest.h>

#include "local_cluster.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;

std::map<std::string, std::string> ParseEnvDump(const std::string& text) {
  std::map<std::string, std::string> env;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

TEST(JobsTest, BothRanksOfAGangJobSeeTheirEnvironmentOnDifferentNodes) {
  LocalCluster cluster(3);
  const long long id = cluster.SubmitScript("gang.sh",
                                            "#!/bin/bash\n"
                                            "#SBATCH -J gang\n"
                                            "#SBATCH -N 2\n"
                                            "#SBATCH --gpus-per-node=1\n"
                                            "for v in WEFT_JOB_ID WEFT_JOB_NAME WEFT_NODE_RANK WEFT_NUM_NODES MASTER_ADDR "
                                            "MASTER_PORT NODE_RANK WORLD_SIZE CUDA_VISIBLE_DEVICES SLURM_JOB_ID SLURM_NNODES "
                                            "SLURM_NODEID SLURM_JOB_NODELIST SLURMD_NODENAME SLURM_SUBMIT_DIR SLURM_PROCID; do\n"
                                            "  echo \"$v=${!v-unset}\"\n"
                                            "done\n"
                                            "echo \"IPS=$(echo \"$WEFT_NODE_IPS\" | paste -sd,)\"\n");

  const nlohmann::json job = cluster.WaitFinal(id);

  ASSERT_EQ(job["state"], "COMPLETED") << job.dump();
  std::vector<std::map<std::string, std::string>> ranks;
  for (int r = 0; r < 2; ++r) {
    const CommandResult logs = cluster.Weft({"logs", std::to_string(id), "--rank", std::to_string(r)});
    ASSERT_EQ(logs.exit_code, 0) << logs.err;
    ranks.push_back(ParseEnvDump(logs.out));
  }
  EXPECT_NE(ranks[0]["SLURMD_NODENAME"], ranks[1]["SLURMD_NODENAME"]);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(ranks[r]["WEFT_JOB_ID"], std::to_string(id));
    EXPECT_EQ(ranks[r]["WEFT_JOB_NAME"], "gang");
    EXPECT_EQ(ranks[r]["WEFT_NODE_RANK"], std::to_string(r));
    EXPECT_EQ(ranks[r]["NODE_RANK"], std::to_string(r));
    EXPECT_EQ(ranks[r]["SLURM_NODEID"], std::to_string(r));
    EXPECT_EQ(ranks[r]["WEFT_NUM_NODES"], "2");
    EXPECT_EQ(ranks[r]["WORLD_SIZE"], "2");
    EXPECT_EQ(ranks[r]["SLURM_NNODES"], "2");
    EXPECT_EQ(ranks[r]["CUDA_VISIBLE_DEVICES"], "0");
    EXPECT_EQ(ranks[r]["SLURM_SUBMIT_DIR"], cluster.work_dir());
    EXPECT_EQ(ranks[r]["SLURM_PROCID"], "unset");  // per-task srun variable: never set
    EXPECT_EQ(ranks[r]["MASTER_PORT"], ranks[0]["MASTER_PORT"]);
    EXPECT_EQ(ranks[r]["IPS"], ranks[0]["IPS"]);
  }
  // MASTER_ADDR is rank 0's address, the first line of WEFT_NODE_IPS.
  EXPECT_EQ(ranks[0]["IPS"].substr(0, ranks[0]["IPS"].find(',')), ranks[0]["MASTER_ADDR"]);
  EXPECT_NE(ranks[0]["IPS"].find(','), std::string::npos);
  // Default output files sit in the submit directory, one per rank.
  EXPECT_NE(ReadFile(cluster.work_dir() + "/weft-" + std::to_string(id) + ".1.out").find("WEFT_NODE_RANK=1"),
            std::string::npos);
}

TEST(JobsTest, FourNodeJobOnThreeNodesWaitsWhileLaterSmallJobsComplete) {
  LocalCluster cluster(3);
  const long long big = cluster.SubmitScript("big.sh", "#!/bin/sh\n#SBATCH -N 4\ntrue\n");
  std::vector<long long> small;
  for (int i = 0; i < 6; ++i) small.push_back(cluster.SubmitScript("small.sh", "#!/bin/sh\n#SBATCH -N 1\necho ok\n"));

  for (long long id : small) EXPECT_EQ(cluster.WaitFinal(id)["state"], "COMPLETED");

  const nlohmann::json job = cluster.Job(big);
  EXPECT_EQ(job["state"], "PENDING");
  EXPECT_EQ(job["reason"], "Resources");
  const CommandResult show = cluster.Weft({"show", std::to_string(big)});
  EXPECT_NE(show.out.find("Resources"), std::string::npos) << show.out;
}

TEST(JobsTest, CancelKillsEveryProcessOfEveryRankIncludingEscapedGrandchildren) {
  LocalCluster cluster(2);
  const std::string pids = cluster.work_dir() + "/pids-%n";
  const long long id = cluster.SubmitScript("tree.sh",
                                            "#!/bin/bash\n"
                                            "#SBATCH -N 2\n"
                                            "sleep 1000 &\n"
                                            "echo $! >> pids-$WEFT_NODE_RANK\n"
                                            "setsid bash -c 'sleep 1000 & echo $! >> pids-'$WEFT_NODE_RANK'; wait' &\n"
                                            "echo $! >> pids-$WEFT_NODE_RANK\n"
                                            "echo $$ >> pids-$WEFT_NODE_RANK\n"
                                            "wait\n");
  std::vector<pid_t> all;
  ASSERT_TRUE(PollUntil(
      [&] {
        all.clear();
        for (int r = 0; r < 2; ++r) {
          std::istringstream in(ReadFile(cluster.work_dir() + "/pids-" + std::to_string(r)));
          pid_t pid;
          while (in >> pid) all.push_back(pid);
        }
        return all.size() == 8;
      },
      20s))
      << "job did not start its processes";

  const CommandResult cancel = cluster.Weft({"cancel", std::to_string(id)});

  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_TRUE(PollUntil(
      [&] {
        for (pid_t pid : all) {
          if (ProcessAlive(pid)) return false;
        }
        return true;
      },
      20s));
  EXPECT_EQ(cluster.WaitFinal(id)["state"], "CANCELLED");
}

TEST(JobsTest, JobPastItsTimeLimitEndsTimeout) {
  LocalCluster cluster(1);
  const long long id = cluster.SubmitScript("slow.sh",
                                            "#!/bin/sh\n#SBATCH --time=0:02\n"
                                            "trap '' TERM\n"  // ignores SIGTERM: needs the SIGKILL after the grace
                                            "sleep 1000\n");

  const nlohmann::json job = cluster.WaitFinal(id, 30s);

  EXPECT_EQ(job["state"], "TIMEOUT");
}

TEST(JobsTest, FailedExitCodeAndSignalDeathAreRecorded) {
  LocalCluster cluster(1);
  const long long failed = cluster.SubmitScript("fail.sh", "#!/bin/sh\nexit 7\n");
  const long long killed = cluster.SubmitScript("die.sh", "#!/bin/sh\nkill -9 $$\n");

  const nlohmann::json f = cluster.WaitFinal(failed);
  const nlohmann::json k = cluster.WaitFinal(killed);

  EXPECT_EQ(f["state"], "FAILED");
  EXPECT_EQ(f["exit_code"], 7);
  EXPECT_EQ(k["state"], "FAILED");
  EXPECT_EQ(k["exit_signal"], 9);
  const CommandResult wait = cluster.Weft({"wait", std::to_string(failed)});
  EXPECT_NE(wait.exit_code, 0);
}

TEST(JobsTest, RunStreamsOutputAndExitsWithTheJobsCode) {
  LocalCluster cluster(2);

  const CommandResult ok = cluster.Weft({"run", "--", "sh", "-c", "echo hello from $WEFT_NODE_RANK"});
  // Rank 1 fails once rank 0 has written; the failure ends the gang, and rank 0 with it.
  const CommandResult failing = cluster.Weft(
      {"run", "-N", "2", "--", "sh", "-c",
       "echo rank$WEFT_NODE_RANK; if [ $WEFT_NODE_RANK = 1 ]; then while [ ! -e ready ]; do sleep 0.01; done; "
       "exit 3; fi; touch ready; sleep 30"});

  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "hello from 0\n");
  EXPECT_EQ(failing.exit_code, 3);
  EXPECT_NE(failing.out.find("rank0"), std::string::npos);
  EXPECT_NE(failing.out.find("rank1"), std::string::npos);
}

TEST(JobsTest, OutputPatternsAndYamlJobs) {
  LocalCluster cluster(2);
  const long long id = cluster.SubmitScript("named.sh", "#!/bin/sh\n#SBATCH -J named -o out-%x-%j.txt -e err-%j.txt\n"
                                                        "echo to-out; echo to-err >&2\n");
  WriteFile(cluster.work_dir() + "/job.yaml",
            "name: yamljob\nnum_nodes: 2\nresources: {cpus: 1, memory: 64M, gpus: 1}\nenv: {GREETING: hi}\n"
            "run: echo \"$GREETING $WEFT_NODE_RANK\"\n");
  const CommandResult yaml = cluster.Weft({"submit", "--parsable", "job.yaml"});
  ASSERT_EQ(yaml.exit_code, 0) << yaml.err;
  const long long yaml_id = std::atoll(yaml.out.c_str());

  EXPECT_EQ(cluster.WaitFinal(id)["state"], "COMPLETED");
  EXPECT_EQ(cluster.WaitFinal(yaml_id)["state"], "COMPLETED");

  EXPECT_EQ(ReadFile(cluster.work_dir() + "/out-named-" + std::to_string(id) + ".txt"), "to-out\n");
  EXPECT_EQ(ReadFile(cluster.work_dir() + "/err-" + std::to_string(id) + ".txt"), "to-err\n");
  EXPECT_EQ(cluster.Weft({"logs", std::to_string(yaml_id), "--rank", "1"}).out, "hi 1\n");
}

TEST(JobsTest, LogsFollowPrintsOutputAsItGrowsUntilTheJobEnds) {
  LocalCluster cluster(1);
  const std::string flag = cluster.work_dir() + "/go";
  const long long id = cluster.SubmitScript(
      "grow.sh", "#!/bin/sh\necho first\nwhile [ ! -e " + flag + " ]; do sleep 0.02; done\necho second\n");
  ASSERT_TRUE(PollUntil([&] { return cluster.Weft({"logs", std::to_string(id)}).out == "first\n"; }, 20s));

  // `logs -f` prints "first" while the job still runs; only then does the job go on.
  const std::string out = cluster.work_dir() + "/followed.txt";
  CommandResult followed;
  std::thread follower([&] {
    followed = RunProgram({"/bin/sh", "-c", std::string(WEFT_BINARY) + " logs " + std::to_string(id) + " -f > " + out},
                          {{"WEFT_SERVER", cluster.url()}, {"WEFT_TOKEN", cluster.token()}}, cluster.work_dir());
  });
  const bool saw_first = PollUntil([&] { return ReadFile(out) == "first\n"; }, 20s);
  WriteFile(flag, "");
  follower.join();
  followed.out = ReadFile(out);

  EXPECT_TRUE(saw_first);
  EXPECT_EQ(followed.exit_code, 0) << followed.err;
  EXPECT_EQ(followed.out, "first\nsecond\n");
  EXPECT_EQ(cluster.Job(id)["state"], "COMPLETED");
}

}  // namespace
}  // namespace weft::testing
