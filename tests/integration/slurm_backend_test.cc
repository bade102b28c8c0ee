// The Slurm backend's pieces (translation, SlurmClient, state mapping) against a real Slurm
// on loopback (SlurmCluster). Skipped when slurm-wlm is not installed.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "backend/slurm_client.h"
#include "backend/slurm_pool.h"
#include "backend/slurm_translate.h"
#include "slurm_cluster.h"
#include "spec/job_spec_parser.h"

namespace weft {
namespace {

using backend::SlurmJobStatus;
using model::JobState;
using namespace std::chrono_literals;

class SlurmBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    missing_ = testing::SlurmCluster::MissingReason();
    if (missing_.empty()) cluster_ = new testing::SlurmCluster(testing::SlurmCluster::Options{});
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    if (!missing_.empty()) GTEST_SKIP() << missing_;
    ASSERT_TRUE(cluster_->error().empty()) << cluster_->error();
    client_ = backend::MakeCommandSlurmClient(Pool());
  }

  static backend::SlurmPoolConfig Pool() {
    backend::SlurmPoolConfig pool;
    pool.pool = "hpc";
    pool.partition = "debug";
    pool.conf = cluster_->conf();
    pool.command_timeout = 30s;
    return pool;
  }

  static model::Job MakeJob(model::JobId id, const std::string& body, int nodes = 1) {
    model::Job job;
    job.id = id;
    job.spec.name = "job" + std::to_string(id);
    job.spec.num_nodes = nodes;
    job.spec.per_node = {1000, 64LL << 20, 0};
    job.spec.work_dir = cluster_->work_dir();
    job.spec.submit_dir = cluster_->work_dir();
    job.spec.script = "#!/bin/bash\n" + body;
    job.spec.env = {{"PATH", "/usr/bin:/bin"}, {"HOME", "/root"}, {"FROM_SUBMITTER", "yes"}};
    return job;
  }

  std::string Submit(const model::Job& job) {
    auto request = backend::TranslateToSbatch(job, Pool());
    EXPECT_TRUE(request) << request.error().message;
    auto id = client_->Submit(*request);
    EXPECT_TRUE(id) << id.error().message;
    return id ? *id : "";
  }

  // Polls Query until `done` holds (deadline), returning the last status seen.
  SlurmJobStatus WaitFor(const std::string& id, const std::function<bool(const SlurmJobStatus&)>& done,
                         std::chrono::seconds timeout = 60s) {
    SlurmJobStatus last;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto jobs = client_->Query({id});
      EXPECT_TRUE(jobs) << jobs.error().message;
      if (jobs && jobs->contains(id)) {
        last = jobs->at(id);
        if (done(last)) return last;
      }
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "job " << id << " still " << last.slurm_state << " after " << timeout.count() << " s";
    return last;
  }
  SlurmJobStatus WaitFinal(const std::string& id) {
    return WaitFor(id, [](const SlurmJobStatus& s) { return s.final(); });
  }

  static std::string Read(const std::string& path) {
    std::stringstream s;
    s << std::ifstream(path).rdbuf();
    return s.str();
  }

 public:
  static const testing::SlurmCluster& Cluster() { return *cluster_; }

 protected:
  static inline std::string missing_;
  static inline testing::SlurmCluster* cluster_ = nullptr;
  std::unique_ptr<backend::SlurmClient> client_;
};

// After a Weft restart, a submission whose id was never recorded is found by its comment.
TEST_F(SlurmBackendTest, FindByCommentFindsTheSubmissionOfAnAttempt) {
  const std::string id = Submit(MakeJob(177, "true\n"));
  ASSERT_FALSE(id.empty());
  auto found = client_->FindByComment("weft-job=177,attempt=0");
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(*found, id);
  auto other = client_->FindByComment("weft-job=177,attempt=1");
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_EQ(*other, "");
  WaitFinal(id);
}

TEST_F(SlurmBackendTest, SingleNodeJobCompletesWithWeftVariables) {
  model::Job job =
      MakeJob(101,
              "#SBATCH --nice=7\n"
              "#SBATCH -p weft-pool-name\n"
              "#SBATCH --mem-per-cpu=10M --gpus-per-node=2\n"  // resolved by Weft: dropped
              "echo \"id=$WEFT_JOB_ID rank=$WEFT_NODE_RANK nodes=$WEFT_NUM_NODES gpus=$WEFT_GPUS_PER_NODE "
              "master=$MASTER_ADDR ips=$WEFT_NODE_IPS port=$MASTER_PORT env=$FROM_SUBMITTER\"\n"
              "echo \"cuda=$CUDA_VISIBLE_DEVICES args=$*\"\n");
  job.spec.per_node.gpus = 1;
  job.spec.args = {"a b"};
  job.master_port = 29555;
  const std::string id = Submit(job);
  ASSERT_FALSE(id.empty());
  const SlurmJobStatus s = WaitFinal(id);
  EXPECT_EQ(s.state, JobState::kCompleted) << s.slurm_state << " " << s.reason;
  EXPECT_EQ(s.exit.exit_code, 0);
  const std::string node = s.nodelist;
  const auto names = cluster_->node_names();
  ASSERT_NE(std::find(names.begin(), names.end(), node), names.end()) << node;
  const std::string out = Read(cluster_->work_dir() + "/weft-101.out");
  EXPECT_NE(out.find("id=101 rank=0 nodes=1 gpus=1 master=" + node + " ips=" + node + " port=29555 env=yes"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("cuda=0 args=a b"), std::string::npos) << out;
  // The script's Slurm-only directive reached Slurm; its Weft one (-p: a pool) did not.
  const auto show = cluster_->Command({"scontrol", "show", "job", id});
  EXPECT_NE(show.out.find("Nice=7"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("Partition=debug"), std::string::npos) << show.out;
}

TEST_F(SlurmBackendTest, TwoNodeJobSeesBothNodesAndSrunTasksGetTheirRank) {
  model::Job job = MakeJob(102,
                           "echo \"ips=$(echo \"$WEFT_NODE_IPS\" | paste -sd,) master=$MASTER_ADDR "
                           "nodes=$WEFT_NUM_NODES rank=$WEFT_NODE_RANK\"\n"
                           "srun bash -c 'echo \"task rank=$WEFT_NODE_RANK node=$SLURMD_NODENAME\"' | sort\n",
                           2);
  const std::string id = Submit(job);
  ASSERT_FALSE(id.empty());
  const SlurmJobStatus s = WaitFinal(id);
  EXPECT_EQ(s.state, JobState::kCompleted) << s.slurm_state << " " << s.reason;
  const std::string out = Read(cluster_->work_dir() + "/weft-102.out");
  const auto at = out.find("ips=");
  ASSERT_NE(at, std::string::npos) << out;
  std::istringstream line(out.substr(at));
  std::string ips, master;
  line >> ips >> master;
  ips = ips.substr(4);
  const auto comma = ips.find(',');
  ASSERT_NE(comma, std::string::npos) << out;
  const std::string first = ips.substr(0, comma), second = ips.substr(comma + 1);
  EXPECT_NE(first, second);
  EXPECT_EQ(master, "master=" + first);
  EXPECT_NE(out.find("nodes=2 rank=0"), std::string::npos) << out;
  EXPECT_NE(out.find("task rank=0 node=" + first), std::string::npos) << out;
  EXPECT_NE(out.find("task rank=1 node=" + second), std::string::npos) << out;
}

TEST_F(SlurmBackendTest, AnUnmodifiedSbatchScriptParsedByWeftRunsOnSlurm) {
  const std::string script =
      "#!/bin/bash\n"
      "#SBATCH -J llama\n"
      "#SBATCH -N 2\n"
      "#SBATCH --ntasks-per-node=1 -c 1\n"
      "#SBATCH --mem=50M\n"
      "#SBATCH -t 5\n"
      "#SBATCH --gres=gpu:1\n"
      "#SBATCH -o out-%j-%x.txt\n"
      "#SBATCH -p hpc\n"
      "#SBATCH --nice=2\n"
      "srun bash -c 'echo \"rank=$WEFT_NODE_RANK gpus=$WEFT_GPUS_PER_NODE name=$WEFT_JOB_NAME "
      "nnodes=$SLURM_NNODES cuda=$CUDA_VISIBLE_DEVICES\"' | sort\n"
      "echo \"arg=$1\"\n";
  spec::SubmitContext context;
  context.submit_dir = cluster_->work_dir();
  context.env = {{"PATH", "/usr/bin:/bin"}, {"HOME", "/root"}};
  context.user = "root";
  auto parsed = spec::ParseBatchScript(script, {}, {"x y"}, context);
  ASSERT_TRUE(parsed) << parsed.error().message;
  model::Job job;
  job.id = 110;
  job.spec = parsed->spec;
  EXPECT_EQ(job.spec.pools, std::vector<std::string>{"hpc"});
  const std::string id = Submit(job);
  ASSERT_FALSE(id.empty());
  const SlurmJobStatus s = WaitFinal(id);
  EXPECT_EQ(s.state, JobState::kCompleted) << s.slurm_state << " " << s.reason;
  const std::string out = Read(cluster_->work_dir() + "/out-110-llama.txt");
  EXPECT_NE(out.find("rank=0 gpus=1 name=llama nnodes=2 cuda=0\nrank=1 gpus=1 name=llama nnodes=2 cuda=0\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("arg=x y"), std::string::npos) << out;
  const auto show = cluster_->Command({"scontrol", "show", "job", id});
  for (const char* want :
       {"JobName=llama", "Nice=2", "TimeLimit=00:05:00", "Partition=debug", "NumNodes=2"}) {
    EXPECT_NE(show.out.find(want), std::string::npos) << want << "\n" << show.out;
  }
}

TEST_F(SlurmBackendTest, FailingJobIsFailedWithItsExitCode) {
  const std::string id = Submit(MakeJob(103, "echo failing; exit 3\n"));
  ASSERT_FALSE(id.empty());
  const SlurmJobStatus s = WaitFinal(id);
  EXPECT_EQ(s.state, JobState::kFailed) << s.slurm_state;
  EXPECT_EQ(s.exit.exit_code, 3);
  EXPECT_EQ(s.exit.signal, 0);
  EXPECT_EQ(s.reason, "NonZeroExitCode");
}

TEST_F(SlurmBackendTest, CancelledJobIsCancelled) {
  const std::string id = Submit(MakeJob(104, "sleep 300\n"));
  ASSERT_FALSE(id.empty());
  WaitFor(id, [](const SlurmJobStatus& s) { return s.state == JobState::kRunning; });
  ASSERT_TRUE(client_->Cancel(id, false));
  const SlurmJobStatus s = WaitFinal(id);
  EXPECT_EQ(s.state, JobState::kCancelled) << s.slurm_state;
  EXPECT_TRUE(client_->Cancel(id, false)) << "cancelling an ended job succeeds";
}

// What max_pending uses to move a job out of Slurm's queue: a queued job is cancelled, one
// that started meanwhile is left running.
TEST_F(SlurmBackendTest, CancelOnlyWhilePendingSparesARunningJob) {
  const std::string running = Submit(MakeJob(108, "sleep 300\n"));
  WaitFor(running, [](const SlurmJobStatus& s) { return s.state == JobState::kRunning; });
  model::Job wide = MakeJob(109, "true\n", 3);
  wide.spec.exclusive = true;  // every node to itself: queued behind `running`
  const std::string queued = Submit(wide);
  WaitFor(queued, [](const SlurmJobStatus& s) { return s.state == JobState::kPending; });
  ASSERT_TRUE(client_->Cancel(running, true));
  ASSERT_TRUE(client_->Cancel(queued, true));
  EXPECT_EQ(WaitFinal(queued).state, JobState::kCancelled);
  auto still = client_->Query({running});
  ASSERT_TRUE(still) << still.error().message;
  EXPECT_EQ(still->at(running).state, JobState::kRunning) << still->at(running).slurm_state;
  ASSERT_TRUE(client_->Cancel(running, false));
}

TEST_F(SlurmBackendTest, JobPastItsTimeLimitIsTimeout) {
  model::Job job = MakeJob(105, "sleep 300\n");
  job.spec.time_limit = 1min;  // Slurm's smallest limit
  const std::string id = Submit(job);
  ASSERT_FALSE(id.empty());
  WaitFor(id, [](const SlurmJobStatus& s) { return s.state == JobState::kRunning; });
  const auto show = cluster_->Command({"scontrol", "show", "job", id});
  EXPECT_NE(show.out.find("TimeLimit=00:01:00"), std::string::npos) << show.out;
  // Instead of waiting out the minute (plus slurmctld's 30 s time-limit sweep), move the
  // running job's end to now: Slurm's own time-limit enforcement then ends it TIMEOUT.
  // Slurm refuses an end time not after the start ("Invalid time specified") within the
  // second the job started: ask again until the clock has moved on.
  auto update = cluster_->Command({"scontrol", "update", "JobId=" + id, "EndTime=now"});
  const auto retry_until = std::chrono::steady_clock::now() + 10s;
  while (!update.ok() && std::chrono::steady_clock::now() < retry_until) {
    std::this_thread::sleep_for(200ms);
    update = cluster_->Command({"scontrol", "update", "JobId=" + id, "EndTime=now"});
  }
  ASSERT_TRUE(update.ok()) << update.err;
  const SlurmJobStatus s = WaitFinal(id);
  EXPECT_EQ(s.state, JobState::kTimeout) << s.slurm_state;
  EXPECT_EQ(s.reason, "TimeLimit");
}

TEST_F(SlurmBackendTest, JobOnANodeSetDownIsNodeFail) {
  const std::string id = Submit(MakeJob(109, "sleep 300\n"));
  ASSERT_FALSE(id.empty());
  const SlurmJobStatus running =
      WaitFor(id, [](const SlurmJobStatus& s) { return s.state == JobState::kRunning; });
  ASSERT_FALSE(running.nodelist.empty());
  // What an administrator (or slurmctld, on a dead node) does: the node goes DOWN.
  const auto down = cluster_->Command(
      {"scontrol", "update", "NodeName=" + running.nodelist, "State=DOWN", "Reason=weft-test"});
  ASSERT_TRUE(down.ok()) << down.err;
  const SlurmJobStatus s = WaitFinal(id);
  EXPECT_EQ(s.state, JobState::kNodeFail) << s.slurm_state;
  // Back in service for the tests that follow (they share the cluster when run in one process).
  cluster_->Command({"scontrol", "update", "NodeName=" + running.nodelist, "State=RESUME"});
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  std::string state;
  while (std::chrono::steady_clock::now() < deadline && state != "idle") {
    state = cluster_->Command({"sinfo", "-h", "-N", "-n", running.nodelist, "-o", "%T"}).out;
    while (!state.empty() && std::isspace(static_cast<unsigned char>(state.back()))) state.pop_back();
    if (state != "idle") std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(state, "idle");
}

TEST_F(SlurmBackendTest, PoolTracksAJobFromSubmitToItsEnd) {
  backend::SlurmPool pool(Pool(), backend::MakeCommandSlurmClient(Pool()));
  auto nodes = pool.RefreshNodes();
  ASSERT_TRUE(nodes) << nodes.error().message;
  EXPECT_EQ(nodes->size(), cluster_->node_names().size());
  for (const model::Node& n : *nodes) EXPECT_EQ(n.state, model::NodeState::kUp) << n.name;
  EXPECT_TRUE(pool.available());

  auto id = pool.Submit(MakeJob(108, "srun true; sleep 1; exit 4\n", 2));
  ASSERT_TRUE(id) << id.error().message;
  std::vector<backend::SlurmJobUpdate> seen;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline &&
         (seen.empty() || !model::IsFinal(seen.back().state))) {
    auto updates = pool.Poll();
    ASSERT_TRUE(updates) << updates.error().message;
    seen.insert(seen.end(), updates->begin(), updates->end());
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_FALSE(seen.empty());
  const backend::SlurmJobUpdate& last = seen.back();
  EXPECT_EQ(last.job, 108);
  EXPECT_EQ(last.state, JobState::kFailed) << last.reason;
  EXPECT_EQ(last.exit_code, 4);
  EXPECT_EQ(last.nodes.size(), 2u);
  EXPECT_TRUE(
      std::any_of(seen.begin(), seen.end(), [](const auto& u) { return u.state == JobState::kRunning; }));
  EXPECT_EQ(pool.SlurmId(108), "");
}

TEST_F(SlurmBackendTest, NodesListsTheVirtualNodes) {
  auto nodes = client_->Nodes();
  ASSERT_TRUE(nodes) << nodes.error().message;
  std::vector<std::string> names;
  for (const backend::SlurmNode& n : *nodes) {
    names.push_back(n.name);
    EXPECT_EQ(n.cpus, 2) << n.name;
    EXPECT_EQ(n.gpus, 2) << n.name;
    EXPECT_EQ(n.memory_bytes, 1024LL << 20) << n.name;
    EXPECT_TRUE(n.available()) << n.name << " " << n.state;
    const model::Node m = backend::ToModelNode(n, "hpc");
    EXPECT_EQ(m.pool, "hpc");
    EXPECT_EQ(m.state, model::NodeState::kUp);
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, cluster_->node_names());
  EXPECT_TRUE(client_->Check());
}

TEST_F(SlurmBackendTest, UnknownJobIdIsAbsent) {
  auto jobs = client_->Query({"987654"});
  ASSERT_TRUE(jobs) << jobs.error().message;
  EXPECT_TRUE(jobs->empty());
}

TEST_F(SlurmBackendTest, BadPartitionIsOneClearSentence) {
  backend::SlurmPoolConfig pool = Pool();
  pool.partition = "nope";
  auto client = backend::MakeCommandSlurmClient(pool);
  auto request = backend::TranslateToSbatch(MakeJob(106, "true\n"), pool);
  ASSERT_TRUE(request);
  auto id = client->Submit(*request);
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(id.error().message, "Slurm rejected partition 'nope' of pool hpc: invalid partition specified");
  auto check = client->Check();
  ASSERT_FALSE(check);
  EXPECT_EQ(check.error().message,
            "Slurm has no partition 'nope' (sinfo does not list it): check slurm.partition of pool hpc");
}

TEST_F(SlurmBackendTest, MissingBinDirIsOneClearSentence) {
  backend::SlurmPoolConfig pool = Pool();
  pool.bin_dir = cluster_->dir() + "/no-such-bin";
  auto client = backend::MakeCommandSlurmClient(pool);
  auto id = client->Submit(*backend::TranslateToSbatch(MakeJob(107, "true\n"), pool));
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(id.error().message, "sbatch not found in " + pool.bin_dir + ": is slurm-client installed?");
  auto check = client->Check();
  ASSERT_FALSE(check);
  EXPECT_EQ(check.error().message, "sinfo not found in " + pool.bin_dir + ": is slurm-client installed?");
}

// A copy of the cluster's slurm.conf with the lines of the given keys replaced.
std::string ConfWith(const std::string& name, const std::map<std::string, std::string>& replace) {
  const std::string conf = SlurmBackendTest::Cluster().dir() + "/etc/" + name;
  std::ifstream in(SlurmBackendTest::Cluster().conf());
  std::ofstream out(conf);
  for (std::string line; std::getline(in, line);) {
    const auto it = replace.find(line.substr(0, line.find('=')));
    out << (it != replace.end() ? it->first + "=" + it->second : line) << "\n";
  }
  return conf;
}

TEST_F(SlurmBackendTest, MungeDownIsControllerUnreachable) {
  // The same cluster through a slurm.conf whose munge socket does not exist: what clients
  // see when munged is down.
  backend::SlurmPoolConfig pool = Pool();
  pool.conf = ConfWith("no-munge.conf", {{"AuthInfo", "socket=" + cluster_->dir() + "/munge/absent.socket"}});
  auto client = backend::MakeCommandSlurmClient(pool);
  auto check = client->Check();
  ASSERT_FALSE(check);
  EXPECT_EQ(check.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(check.error().message.starts_with("Slurm controller unreachable: munge authentication failed"))
      << check.error().message;
  EXPECT_EQ(check.error().message.find('\n'), std::string::npos);
}

TEST_F(SlurmBackendTest, ControllerDownIsControllerUnreachable) {
  // A port nothing listens on (bound, never listening: connections are refused).
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  backend::SlurmPoolConfig pool = Pool();
  pool.conf = ConfWith("no-ctld.conf", {{"SlurmctldPort", std::to_string(ntohs(addr.sin_port))},
                                        {"MessageTimeout", "2"}});  // clients retry for about this long;
  const auto start = std::chrono::steady_clock::now();
  auto check = backend::MakeCommandSlurmClient(pool)->Check();
  ::close(fd);
  ASSERT_FALSE(check);
  EXPECT_EQ(check.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(check.error().message.starts_with("Slurm controller unreachable: ")) << check.error().message;
  EXPECT_EQ(check.error().message.find('\n'), std::string::npos);
  std::cout << "sinfo gave up after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
                   .count()
            << " ms: " << check.error().message << "\n";
}

}  // namespace
}  // namespace weft
