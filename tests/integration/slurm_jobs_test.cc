// Jobs through Weft into a real Slurm: the CLI against a LocalCluster whose server config has
// a slurm pool pointing at a SlurmCluster on loopback (issue 7). Skipped when slurm-wlm is
// not installed.
#include <signal.h>

#include <gtest/gtest.h>

#include "local_cluster.h"
#include "slurm_cluster.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;

class SlurmJobsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    missing_ = SlurmCluster::MissingReason();
    if (missing_.empty()) slurm_ = new SlurmCluster(SlurmCluster::Options{});
  }
  static void TearDownTestSuite() {
    delete slurm_;
    slurm_ = nullptr;
  }
  void SetUp() override {
    if (!missing_.empty()) GTEST_SKIP() << missing_;
    ASSERT_TRUE(slurm_->error().empty()) << slurm_->error();
  }

  // A server config with an agents pool and the slurm pool `hpc` on partition `partition`.
  static std::string Config(const std::string& partition = "debug") {
    return "pools:\n"
           "  - {name: default, backend: agents}\n" +
           SlurmPool("hpc", partition);
  }
  static std::string SlurmPool(const std::string& name, const std::string& partition) {
    return "  - name: " + name + "\n"
           "    backend: slurm\n"
           "    slurm: {partition: " + partition + ", conf: " + slurm_->conf() + ", command_timeout: 30}\n";
  }

  // The job's record once `done` holds (deadline); fails the test otherwise.
  static nlohmann::json WaitFor(const LocalCluster& weft, long long id,
                                const std::function<bool(const nlohmann::json&)>& done,
                                std::chrono::milliseconds timeout = 60s) {
    nlohmann::json job;
    const bool ok = PollUntil(
        [&] {
          job = weft.Job(id);
          return done(job);
        },
        timeout);
    EXPECT_TRUE(ok) << "job " << id << ": " << job.dump();
    return job;
  }

  // Slurm's state of its job `slurm_id` ("" once squeue forgot it).
  static std::string SlurmState(const std::string& slurm_id) {
    const auto o = slurm_->Command({"squeue", "-h", "-t", "all", "-j", slurm_id, "-o", "%T"});
    return std::string(o.out.substr(0, o.out.find('\n')));
  }

  static inline std::string missing_;
  static inline SlurmCluster* slurm_ = nullptr;
};

TEST_F(SlurmJobsTest, CompletedJobRunsInSlurmWithWeftVariablesAndShowsItsSlurmId) {
  LocalCluster weft(1, {}, Config());
  const long long id = weft.SubmitScript("ok.sh",
                                         "#!/bin/bash\n"
                                         "#SBATCH -J slurmy\n"
                                         "echo \"id=$WEFT_JOB_ID name=$WEFT_JOB_NAME rank=$WEFT_NODE_RANK "
                                         "nodes=$WEFT_NUM_NODES slurm=$SLURM_JOB_ID\"\n",
                                         {"-p", "hpc"});
  const nlohmann::json job = weft.WaitFinal(id, 90s);
  ASSERT_EQ(job["state"], "COMPLETED") << job.dump();
  EXPECT_EQ(job["backend_pool"], "hpc");
  const std::string slurm_id = job["backend_id"];
  ASSERT_FALSE(slurm_id.empty());

  const CommandResult show = weft.Weft({"show", std::to_string(id)});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("SlurmJobId     " + slurm_id), std::string::npos) << show.out;
  const CommandResult logs = weft.Weft({"logs", std::to_string(id)});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_NE(logs.out.find("id=" + std::to_string(id) + " name=slurmy rank=0 nodes=1 slurm=" + slurm_id),
            std::string::npos)
      << logs.out;
}

TEST_F(SlurmJobsTest, MultiNodeJobGetsEveryNodeOfItsSlurmAllocation) {
  LocalCluster weft(1, {}, Config());
  const long long id = weft.SubmitScript("multi.sh",
                                         "#!/bin/bash\n"
                                         "#SBATCH -N 2\n"
                                         "echo \"nodes=$WEFT_NUM_NODES ips=$(echo \"$WEFT_NODE_IPS\" | paste -sd,)\"\n"
                                         "srun bash -c 'echo rank=$WEFT_NODE_RANK' | sort\n",
                                         {"-p", "hpc"});
  const nlohmann::json job = weft.WaitFinal(id, 90s);
  ASSERT_EQ(job["state"], "COMPLETED") << job.dump();
  const CommandResult logs = weft.Weft({"logs", std::to_string(id)});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_NE(logs.out.find("nodes=2 ips=n"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("rank=0\nrank=1\n"), std::string::npos) << logs.out;
}

TEST_F(SlurmJobsTest, FailingJobEndsFailedWithItsExitCode) {
  LocalCluster weft(1, {}, Config());
  const long long id = weft.SubmitScript("fail.sh", "#!/bin/bash\nexit 3\n", {"-p", "hpc"});
  const nlohmann::json job = weft.WaitFinal(id, 90s);
  EXPECT_EQ(job["state"], "FAILED") << job.dump();
  EXPECT_EQ(job["exit_code"], 3) << job.dump();
  const CommandResult wait = weft.Weft({"wait", std::to_string(id)});
  EXPECT_NE(wait.exit_code, 0);
}

TEST_F(SlurmJobsTest, CancelledJobIsCancelledInSlurmToo) {
  LocalCluster weft(1, {}, Config());
  const long long id = weft.SubmitScript("long.sh", "#!/bin/bash\nsleep 300\n", {"-p", "hpc"});
  const nlohmann::json running = WaitFor(weft, id, [](const nlohmann::json& j) { return j["state"] == "RUNNING"; });
  const std::string slurm_id = running["backend_id"];
  ASSERT_FALSE(slurm_id.empty()) << running.dump();
  EXPECT_EQ(SlurmState(slurm_id), "RUNNING");

  const CommandResult cancel = weft.Weft({"cancel", std::to_string(id)});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_EQ(weft.WaitFinal(id)["state"], "CANCELLED");
  EXPECT_TRUE(PollUntil([&] { const std::string s = SlurmState(slurm_id); return s == "CANCELLED" || s.empty(); }, 30s))
      << SlurmState(slurm_id);
}

TEST_F(SlurmJobsTest, TimedOutJobEndsTimeout) {
  LocalCluster weft(1, {}, Config());
  // Slurm's limits are whole minutes: one minute, then the job is killed.
  const long long id = weft.SubmitScript("slow.sh", "#!/bin/bash\nsleep 600\n", {"-p", "hpc", "-t", "1"});
  const nlohmann::json job = weft.WaitFinal(id, 180s);
  EXPECT_EQ(job["state"], "TIMEOUT") << job.dump();
}

TEST_F(SlurmJobsTest, RestartedServerReattachesItsSlurmJobWithoutSubmittingAgain) {
  LocalCluster weft(1, {}, Config());
  const std::string flag = weft.work_dir() + "/go";
  const long long id = weft.SubmitScript(
      "restart.sh", "#!/bin/bash\n#SBATCH -J weft-restart-test\nwhile [ ! -e " + flag + " ]; do sleep 0.2; done\necho finished\n", {"-p", "hpc"});
  const nlohmann::json running = WaitFor(weft, id, [](const nlohmann::json& j) { return j["state"] == "RUNNING"; });
  const std::string slurm_id = running["backend_id"];

  weft.KillServer(SIGKILL);
  WriteFile(flag, "");  // the job ends while Weft is down
  weft.StartServer();

  const nlohmann::json job = weft.WaitFinal(id, 90s);
  EXPECT_EQ(job["state"], "COMPLETED") << job.dump();
  EXPECT_EQ(job["backend_id"], slurm_id);
  // Slurm ran exactly one job for it.
  const auto o = slurm_->Command({"squeue", "-h", "-t", "all", "-o", "%j"});
  int submissions = 0;
  for (std::size_t at = 0; (at = o.out.find("weft-restart-test", at)) != std::string::npos; ++at) ++submissions;
  EXPECT_EQ(submissions, 1) << o.out;
}

TEST_F(SlurmJobsTest, NodesListsTheSlurmPoolsNodesFromSinfo) {
  LocalCluster weft(1, {}, Config());
  nlohmann::json listed;
  ASSERT_TRUE(PollUntil(
      [&] {
        listed = weft.Get("/v1/nodes");
        int slurm_nodes = 0;
        for (const auto& n : listed["nodes"]) slurm_nodes += n["pool"] == "hpc" && n["state"] == "UP";
        return slurm_nodes == 3;
      },
      30s))
      << listed.dump();
  ASSERT_EQ(listed["pools"].size(), 1u);
  EXPECT_EQ(listed["pools"][0]["available"], true) << listed.dump();
  const CommandResult nodes = weft.Weft({"nodes"});
  ASSERT_EQ(nodes.exit_code, 0) << nodes.err;
  for (const std::string& name : slurm_->node_names()) EXPECT_NE(nodes.out.find(name), std::string::npos) << nodes.out;
}

TEST_F(SlurmJobsTest, BadPartitionMarksThePoolUnavailableWithOneSentence) {
  LocalCluster weft(1, {}, Config("nosuch"));
  ASSERT_TRUE(PollUntil([&] { return weft.Get("/v1/nodes")["pools"][0]["available"] == false &&
                                     weft.Get("/v1/nodes")["pools"][0]["reason"] != "not listed yet"; },
                        30s));
  const CommandResult nodes = weft.Weft({"nodes"});
  ASSERT_EQ(nodes.exit_code, 0) << nodes.err;
  EXPECT_NE(nodes.out.find("pool hpc (slurm) unavailable: Slurm has no partition 'nosuch'"), std::string::npos)
      << nodes.out;
  // A job sent there fails with the same sentence instead of hanging.
  const long long id = weft.SubmitScript("x.sh", "#!/bin/bash\ntrue\n", {"-p", "hpc"});
  const nlohmann::json job = weft.WaitFinal(id, 60s);
  EXPECT_EQ(job["state"], "FAILED") << job.dump();
  EXPECT_NE(job["reason"].get<std::string>().find("nosuch"), std::string::npos) << job.dump();
}

TEST_F(SlurmJobsTest, JobTooLargeForTheAgentsPoolFailsOverIntoSlurm) {
  LocalCluster weft(1, AgentSpec{2, "1G", 0}, Config());  // no GPUs: a GPU job can never run there
  const long long id = weft.SubmitScript(
      "big.sh", "#!/bin/bash\n#SBATCH -N 2 --gres=gpu:1\necho big=$WEFT_NUM_NODES\n", {"-p", "default,hpc"});
  const nlohmann::json job = weft.WaitFinal(id, 90s);
  ASSERT_EQ(job["state"], "COMPLETED") << job.dump();
  EXPECT_EQ(job["backend_pool"], "hpc");
  EXPECT_NE(weft.Weft({"logs", std::to_string(id)}).out.find("big=2"), std::string::npos);
}

TEST_F(SlurmJobsTest, PoolThatRejectsTheJobFailsOverToTheNextWithTheAttemptShown) {
  LocalCluster weft(1, {}, "pools:\n" + SlurmPool("broken", "nosuch") + SlurmPool("hpc", "debug"));
  const long long id = weft.SubmitScript("next.sh", "#!/bin/bash\necho hello\n", {"-p", "broken,hpc"});
  const nlohmann::json job = weft.WaitFinal(id, 90s);
  ASSERT_EQ(job["state"], "COMPLETED") << job.dump();
  EXPECT_EQ(job["backend_pool"], "hpc");
  ASSERT_EQ(job["attempts"].size(), 1u) << job.dump();
  EXPECT_EQ(job["attempts"][0]["state"], "FAILED");
  const CommandResult show = weft.Weft({"show", std::to_string(id)});
  EXPECT_NE(show.out.find("reason=pool broken: Slurm"), std::string::npos) << show.out << show.err;
}


// Weft counts a slurm pool's capacity (sinfo) when placing: a job larger than any allocation
// its nodes could make moves on without an sbatch, with the reason shown.
TEST_F(SlurmJobsTest, JobLargerThanTheSlurmPoolMovesOnWithoutAnSbatch) {
  LocalCluster weft(1, AgentSpec{2, "1G", 0}, Config());
  ASSERT_TRUE(PollUntil([&] { return weft.Get("/v1/nodes")["pools"][0]["available"] == true; }, 30s));
  const long long id = weft.SubmitScript("huge.sh", "#!/bin/bash\n#SBATCH -N 5\necho huge\n", {"-p", "hpc"});
  const nlohmann::json job = weft.WaitFinal(id, 60s);
  EXPECT_EQ(job["state"], "FAILED") << job.dump();
  EXPECT_NE(job["reason"].get<std::string>().find("pool hpc: it needs 5 node(s)"), std::string::npos) << job.dump();
  EXPECT_NE(job["reason"].get<std::string>().find("the pool has 3 such node(s)"), std::string::npos) << job.dump();
  EXPECT_EQ(job.value("backend_id", ""), "") << job.dump();
}

// --max-pending: a job waiting on the (full) agents longer than that moves into the slurm
// pool, with the wait recorded as an attempt.
TEST_F(SlurmJobsTest, JobPendingOnTheAgentsLongerThanMaxPendingMovesIntoSlurm) {
  LocalCluster weft(1, AgentSpec{2, "1G", 0}, Config());
  const long long blocker = weft.SubmitScript("block.sh", "#!/bin/bash\nsleep 300\n", {"-p", "default", "-c", "2"});
  WaitFor(weft, blocker, [](const nlohmann::json& j) { return j["state"] == "RUNNING"; });
  const long long id = weft.SubmitScript("moves.sh", "#!/bin/bash\necho moved=$SLURM_JOB_ID\n",
                                         {"-p", "default,hpc", "-c", "1", "--max-pending", "2s"});
  const nlohmann::json job = weft.WaitFinal(id, 90s);
  ASSERT_EQ(job["state"], "COMPLETED") << job.dump();
  EXPECT_EQ(job["backend_pool"], "hpc");
  ASSERT_EQ(job["attempts"].size(), 1u) << job.dump();
  EXPECT_EQ(job["attempts"][0]["state"], "PENDING");
  EXPECT_NE(job["attempts"][0]["reason"].get<std::string>().find("pool default: pending longer than its max-pending (2 s)"),
            std::string::npos)
      << job.dump();
  EXPECT_EQ(weft.Job(blocker)["state"], "RUNNING");  // the agents' job was never disturbed
  ASSERT_EQ(weft.Weft({"cancel", std::to_string(blocker)}).exit_code, 0);
}

// A job queued inside Slurm (its partition full) longer than its --max-pending is cancelled
// there while still queued and runs on the next pool, the agents.
TEST_F(SlurmJobsTest, JobQueuedInSlurmLongerThanMaxPendingMovesToTheNextPool) {
  LocalCluster weft(1, AgentSpec{2, "1G", 0}, Config());
  const auto fill = slurm_->Command({"sbatch", "--parsable", "-p", "debug", "-N", "3", "--exclusive",
                                     "--wrap", "sleep 300"});
  ASSERT_EQ(fill.exit_code, 0) << fill.err;
  const std::string filler(fill.out.substr(0, fill.out.find_first_of(";\n")));
  ASSERT_TRUE(PollUntil([&] { return SlurmState(filler) == "RUNNING"; }, 30s)) << SlurmState(filler);
  const long long id = weft.SubmitScript("queued.sh", "#!/bin/bash\necho ran-on=$WEFT_NODE_NAME\n",
                                         {"-p", "hpc,default", "--max-pending", "3s"});
  const nlohmann::json queued = WaitFor(weft, id, [](const nlohmann::json& j) {
    return !j.value("backend_id", "").empty();
  });
  const std::string slurm_id = queued["backend_id"];
  const nlohmann::json job = weft.WaitFinal(id, 90s);
  ASSERT_EQ(job["state"], "COMPLETED") << job.dump();
  EXPECT_EQ(job.value("backend_pool", ""), "") << job.dump();  // ran on the agents
  ASSERT_EQ(job["attempts"].size(), 2u) << job.dump();  // the wait in Slurm, the run on the agents
  EXPECT_EQ(job["attempts"][0]["state"], "PENDING");
  EXPECT_NE(job["attempts"][0]["reason"].get<std::string>().find("pool hpc: pending longer than its max-pending (3 s)"),
            std::string::npos)
      << job.dump();
  const std::string left = SlurmState(slurm_id);
  EXPECT_TRUE(left == "CANCELLED" || left.empty()) << left;  // never ran there
  slurm_->Command({"scancel", filler});
}

// With burst: true on the agents pool, work that would queue there goes to the slurm pool
// while that has room; the agents' own job keeps its place.
TEST_F(SlurmJobsTest, BurstSendsWorkThatWouldQueueOnTheAgentsIntoSlurm) {
  LocalCluster weft(1, AgentSpec{2, "1G", 0},
                    "pools:\n  - {name: default, backend: agents, burst: true}\n" + SlurmPool("hpc", "debug"));
  const long long blocker = weft.SubmitScript("block.sh", "#!/bin/bash\nsleep 300\n", {"-c", "2"});
  WaitFor(weft, blocker, [](const nlohmann::json& j) { return j["state"] == "RUNNING"; });
  EXPECT_EQ(weft.Job(blocker).value("backend_pool", ""), "");  // room on the agents: it ran there
  const long long id = weft.SubmitScript("burst.sh", "#!/bin/bash\necho burst=$SLURM_JOB_ID\n", {"-c", "1"});
  const nlohmann::json job = weft.WaitFinal(id, 90s);
  ASSERT_EQ(job["state"], "COMPLETED") << job.dump();
  EXPECT_EQ(job["backend_pool"], "hpc") << job.dump();
  EXPECT_TRUE(job["attempts"].empty()) << job.dump();
  ASSERT_EQ(weft.Weft({"cancel", std::to_string(blocker)}).exit_code, 0);
}

// A slurm pool's jobs count against their queue's quota like running jobs: a second job of the
// queue waits in Weft (QuotaExceeded, nothing submitted to Slurm), in the slurm pool and on
// the agents alike, until the first ends.
TEST_F(SlurmJobsTest, SlurmJobsCountAgainstTheirQueuesQuota) {
  LocalCluster weft(1, AgentSpec{2, "1G", 0},
                    "queues:\n  - name: team\n    quota: {cpus: 2}\n" + Config());
  const std::string flag = weft.work_dir() + "/release";
  const long long first = weft.SubmitScript(
      "first.sh", "#!/bin/bash\nwhile [ ! -e " + flag + " ]; do sleep 0.2; done\n", {"-p", "hpc", "-A", "team", "-c", "2"});
  WaitFor(weft, first, [](const nlohmann::json& j) { return j["state"] == "RUNNING"; });
  const long long second = weft.SubmitScript("second.sh", "#!/bin/bash\necho second\n", {"-p", "hpc", "-A", "team", "-c", "1"});
  const long long local = weft.SubmitScript("local.sh", "#!/bin/bash\necho local\n", {"-A", "team", "-c", "1"});
  for (long long waiting : {second, local}) {
    const nlohmann::json held = WaitFor(weft, waiting, [](const nlohmann::json& j) { return j["reason"] == "QuotaExceeded"; });
    EXPECT_EQ(held["state"], "PENDING") << held.dump();
    EXPECT_EQ(held.value("backend_id", ""), "") << held.dump();
  }
  const CommandResult queues = weft.Weft({"queues"});
  EXPECT_NE(queues.out.find("team"), std::string::npos) << queues.out;
  WriteFile(flag, "");
  EXPECT_EQ(weft.WaitFinal(first, 90s)["state"], "COMPLETED");
  EXPECT_EQ(weft.WaitFinal(second, 90s)["state"], "COMPLETED");
  EXPECT_EQ(weft.WaitFinal(local, 90s)["state"], "COMPLETED");
}

}  // namespace
}  // namespace weft::testing
