#include "backend/slurm_client.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace weft::backend {
namespace {

using model::JobState;

TEST(SlurmParse, SqueueLines) {
  const auto jobs = ParseSqueue(
      "1|FAILED|NonZeroExitCode|768|n[1-2]|\n"
      "2|RUNNING|None|0|n1|\n"
      "3|PENDING|Resources|0||\n"
      "4|CANCELLED|None|15|n1|\n"
      "5|WEIRD|None|0|n1|\n"
      "garbage\n");
  ASSERT_EQ(jobs.size(), 4u);
  EXPECT_EQ(jobs.at("1").state, JobState::kFailed);
  EXPECT_EQ(jobs.at("1").exit.exit_code, 3);
  EXPECT_EQ(jobs.at("1").reason, "NonZeroExitCode");
  EXPECT_EQ(jobs.at("1").nodelist, "n[1-2]");
  EXPECT_EQ(jobs.at("2").state, JobState::kRunning);
  EXPECT_EQ(jobs.at("2").reason, "");
  EXPECT_EQ(jobs.at("3").reason, "Resources");
  EXPECT_EQ(jobs.at("3").nodelist, "");
  EXPECT_EQ(jobs.at("4").state, JobState::kCancelled);
  EXPECT_EQ(jobs.at("4").exit.signal, 15);
  EXPECT_TRUE(jobs.at("4").final());
}

TEST(SlurmParse, SacctLines) {
  const auto jobs = ParseSacct(
      "7|COMPLETED|0:0|n1\n"
      "8|CANCELLED by 1000|0:15|n[1-2]\n"
      "9|OUT_OF_MEMORY|0:125|n2\n"
      "9.batch|OUT_OF_MEMORY|0:125|n2\n"
      "10|PENDING|0:0|None assigned\n"
      "11|NODE_FAIL|1:0|n3\n"
      "11|TIMEOUT|0:15|n3\n");  // requeued: the last record wins
  ASSERT_EQ(jobs.size(), 5u);
  EXPECT_EQ(jobs.at("7").state, JobState::kCompleted);
  EXPECT_EQ(jobs.at("8").state, JobState::kCancelled);
  EXPECT_EQ(jobs.at("8").slurm_state, "CANCELLED");
  EXPECT_EQ(jobs.at("8").reason, "cancelled by uid 1000");
  EXPECT_EQ(jobs.at("8").exit.exit_code, 143);
  EXPECT_EQ(jobs.at("9").state, JobState::kOomKilled);
  EXPECT_EQ(jobs.at("10").nodelist, "");
  EXPECT_EQ(jobs.at("11").state, JobState::kTimeout);
}

TEST(SlurmParse, SinfoNodes) {
  const auto nodes = ParseSinfo(
      "n1|2|12052|gpu:2|idle|0/2/0/2|none\n"
      "n1|2|12052|gpu:2|idle|0/2/0/2|none\n"  // a second partition lists it again
      "g1|64|515000+|gpu:a100:4(S:0-1),gpu:v100:2|mixed|16/48/0/64|none\n"
      "d1|8|1000|(null)|drained|0/0/8/8|bad disk | really\n"
      "x1|8|1000|(null)|idle*|0/0/8/8|Not responding\n");
  ASSERT_EQ(nodes.size(), 4u);
  EXPECT_EQ(nodes[0].name, "n1");
  EXPECT_EQ(nodes[0].cpus, 2);
  EXPECT_EQ(nodes[0].memory_bytes, 12052LL * 1024 * 1024);
  EXPECT_EQ(nodes[0].gpus, 2);
  EXPECT_TRUE(nodes[0].available());
  EXPECT_EQ(nodes[1].gpus, 6);
  EXPECT_EQ(nodes[1].gpu_model, "a100");
  EXPECT_EQ(nodes[1].cpus_allocated, 16);
  EXPECT_TRUE(nodes[1].available());
  EXPECT_EQ(nodes[2].reason, "bad disk | really");
  EXPECT_FALSE(nodes[2].available());
  EXPECT_FALSE(nodes[3].available());

  const model::Node drained = ToModelNode(nodes[2], "hpc");
  EXPECT_TRUE(drained.drain);
  EXPECT_EQ(drained.drain_reason, "bad disk | really");
  EXPECT_EQ(drained.state, model::NodeState::kUp);
  const model::Node gpu = ToModelNode(nodes[1], "hpc");
  EXPECT_EQ(gpu.pool, "hpc");
  EXPECT_EQ(gpu.capacity.cpu_milli, 64000);
  EXPECT_EQ(gpu.capacity.gpus, 6);
  EXPECT_EQ(ToModelNode(nodes[3], "hpc").state, model::NodeState::kDown);

  // What bursting counts as room: all of an idle node; a mixed node's idle CPUs, memory in
  // proportion and no GPU; nothing on a drained or unresponsive one.
  EXPECT_EQ(IdleResources(nodes[0]), (model::Resources{2000, 12052LL << 20, 2}));
  const model::Resources mixed = IdleResources(nodes[1]);
  EXPECT_EQ(mixed.cpu_milli, 48000);
  EXPECT_EQ(mixed.gpus, 0);
  EXPECT_EQ(mixed.memory_bytes, nodes[1].memory_bytes / 64 * 48);
  EXPECT_EQ(IdleResources(nodes[2]), model::Resources{});
  EXPECT_EQ(IdleResources(nodes[3]), model::Resources{});
}

TEST(SlurmParse, GresAndSbatchIds) {
  EXPECT_EQ(ParseGpuGres("gpu:4"), (std::pair<int, std::string>{4, ""}));
  EXPECT_EQ(ParseGpuGres("(null)"), (std::pair<int, std::string>{0, ""}));
  EXPECT_EQ(ParseGpuGres("gpu:h100:8(S:0-1),nic:2"), (std::pair<int, std::string>{8, "h100"}));
  EXPECT_EQ(ParseSbatchId("123\n"), "123");
  EXPECT_EQ(ParseSbatchId("123;cluster\n"), "123");
  EXPECT_EQ(ParseSbatchId("sbatch: warning: x\n"), std::nullopt);
}

CommandOutcome Failed(std::string err, int code = 1) {
  CommandOutcome o;
  o.exit_code = code;
  o.err = std::move(err);
  return o;
}

TEST(SlurmErrors, OneSentenceEach) {
  SlurmPoolConfig config;
  config.pool = "hpc";
  config.partition = "gpu";
  config.bin_dir = "/opt/slurm/bin";
  CommandOutcome missing;
  missing.exec_errno = ENOENT;
  Error e = SlurmCommandError("sbatch", config, missing);
  EXPECT_EQ(e.code, ErrorCode::kUnavailable);
  EXPECT_EQ(e.message, "sbatch not found in /opt/slurm/bin: is slurm-client installed?");

  e = SlurmCommandError(
      "sbatch", config,
      Failed("sbatch: error: invalid partition specified: gpu\n"
             "sbatch: error: Batch job submission failed: Invalid partition name specified\n"));
  EXPECT_EQ(e.code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(e.message, "Slurm rejected partition 'gpu' of pool hpc: invalid partition specified");

  e = SlurmCommandError(
      "squeue", config,
      Failed("squeue: error: If munged is up, restart with --num-threads=10\n"
             "squeue: error: Munge encode failed: Failed to access \"/run/munge/munge.socket.2\": "
             "No such file or directory (Did you start munged?)\n"
             "slurm_load_jobs error: Protocol authentication error\n"));
  EXPECT_EQ(e.code, ErrorCode::kUnavailable);
  EXPECT_TRUE(
      e.message.starts_with("Slurm controller unreachable: munge authentication failed (Munge encode failed"))
      << e.message;

  e = SlurmCommandError(
      "sbatch", config,
      Failed("sbatch: error: Batch job submission failed: Unable to contact slurm controller "
             "(connect failure)\n"));
  EXPECT_EQ(e.message,
            "Slurm controller unreachable: Batch job submission failed: Unable to contact slurm controller "
            "(connect failure)");

  CommandOutcome slow;
  slow.timed_out = true;
  config.command_timeout = std::chrono::seconds(5);
  EXPECT_EQ(SlurmCommandError("sinfo", config, slow).message,
            "Slurm controller unreachable: sinfo did not answer within 5 s");

  e = SlurmCommandError(
      "sbatch", config,
      Failed("sbatch: error: Batch job submission failed: Requested node configuration is not available\n"));
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  e = SlurmCommandError("scancel", config, Failed("scancel: error: something odd.\n", 2));
  EXPECT_EQ(e.message, "scancel failed (exit 2): something odd");
}

// A bin dir of fake Slurm commands (shell scripts): the client's argv, stdin, environment and
// error handling without a Slurm.
class FakeBinDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "weft-fake-slurm-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& body) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << "#!/bin/sh\n" << body;
    ::chmod(path.c_str(), 0755);
  }
  SlurmPoolConfig Config() const {
    SlurmPoolConfig c;
    c.pool = "hpc";
    c.partition = "gpu";
    c.bin_dir = dir_;
    c.conf = "/etc/fake/slurm.conf";
    c.command_timeout = std::chrono::seconds(10);
    return c;
  }
  std::string dir_;
};

TEST_F(FakeBinDir, SubmitPassesArgsScriptAndEnvironment) {
  Write("sbatch",
        "printf '%s\\n' \"$*\" >\"$0.args\"; cat >\"$0.stdin\"; env >\"$0.env\"; echo '42;cluster'\n");
  auto client = MakeCommandSlurmClient(Config());
  SbatchRequest req{
      {"--parsable", "--nodes=2"}, "#!/bin/bash\necho hi\n", {{"PATH", "/usr/bin:/bin"}, {"A", "b c"}}};
  auto id = client->Submit(req);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(*id, "42");
  std::stringstream args, in, env;
  args << std::ifstream(dir_ + "/sbatch.args").rdbuf();
  in << std::ifstream(dir_ + "/sbatch.stdin").rdbuf();
  env << std::ifstream(dir_ + "/sbatch.env").rdbuf();
  EXPECT_EQ(args.str(), "--parsable --nodes=2\n");
  EXPECT_EQ(in.str(), req.script);
  EXPECT_NE(env.str().find("SLURM_CONF=/etc/fake/slurm.conf\n"), std::string::npos);
  EXPECT_NE(env.str().find("A=b c\n"), std::string::npos);
}

TEST_F(FakeBinDir, BadPartitionAndMissingCommands) {
  Write("sbatch", "echo 'sbatch: error: invalid partition specified: gpu' >&2; exit 1\n");
  auto client = MakeCommandSlurmClient(Config());
  auto id = client->Submit(SbatchRequest{{"--parsable"}, "#!/bin/sh\n", {}});
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().message, "Slurm rejected partition 'gpu' of pool hpc: invalid partition specified");
  auto nodes = client->Nodes();  // no sinfo in the dir
  ASSERT_FALSE(nodes);
  EXPECT_EQ(nodes.error().message, "sinfo not found in " + dir_ + ": is slurm-client installed?");
}

TEST_F(FakeBinDir, QueryFallsBackToSacctForForgottenJobs) {
  Write("squeue", "echo '1|RUNNING|None|0|n1|'\n");
  Write("sacct", "printf '%s\\n' \"$*\" >\"$0.args\"; echo '2|COMPLETED|0:0|n2'\n");
  auto client = MakeCommandSlurmClient(Config());
  auto jobs = client->Query({"1", "2", "3"});
  ASSERT_TRUE(jobs) << jobs.error().message;
  EXPECT_EQ(jobs->size(), 2u);
  EXPECT_EQ(jobs->at("1").state, JobState::kRunning);
  EXPECT_EQ(jobs->at("2").state, JobState::kCompleted);
  std::stringstream args;
  args << std::ifstream(dir_ + "/sacct.args").rdbuf();
  EXPECT_EQ(args.str(), "-n -P -X -j 2,3 -o JobID,State,ExitCode,NodeList\n");
}

TEST_F(FakeBinDir, QueryOfOnlyForgottenJobsWithoutAccountingIsEmpty) {
  Write("squeue", "echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1\n");
  Write("sacct", "echo 'Slurm accounting storage is disabled' >&2; exit 1\n");
  auto jobs = MakeCommandSlurmClient(Config())->Query({"5"});
  ASSERT_TRUE(jobs) << jobs.error().message;
  EXPECT_TRUE(jobs->empty());
}

TEST_F(FakeBinDir, CheckFindsThePartition) {
  Write("sinfo", "printf 'debug\\ngpu\\n'\n");
  EXPECT_TRUE(MakeCommandSlurmClient(Config())->Check());
  SlurmPoolConfig other = Config();
  other.partition = "cpu";
  auto r = MakeCommandSlurmClient(other)->Check();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "Slurm has no partition 'cpu' (sinfo does not list it): check slurm.partition of pool hpc");
}

TEST_F(FakeBinDir, CancelOfAnEndedJobSucceedsAndAHangingCommandTimesOut) {
  Write("scancel",
        "echo 'scancel: error: Kill job error on job id 4: Invalid job id specified' >&2; exit 1\n");
  EXPECT_TRUE(MakeCommandSlurmClient(Config())->Cancel("4", false));
  Write("sinfo", "exec sleep 30\n");
  SlurmPoolConfig c = Config();
  c.command_timeout = std::chrono::milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  auto r = MakeCommandSlurmClient(c)->Check();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "Slurm controller unreachable: sinfo did not answer within 0 s");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(CommandRunner, LargeStdinAndExitStatus) {
  CommandSpec spec;
  spec.argv = {"/bin/sh", "-c", "wc -c; echo err >&2; exit 3"};
  spec.stdin_text.assign(1 << 20, 'x');  // more than a pipe holds
  const CommandOutcome o = RunCommand(spec);
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.out, "1048576\n");
  EXPECT_EQ(o.err, "err\n");
  spec.argv = {"/bin/sh", "-c", "exit 0"};  // does not read its stdin
  EXPECT_TRUE(RunCommand(spec).ok());
}

TEST(CommandRunner, DeadlineKillsAProgramThatClosedItsOutputAndMissingProgramsReportErrno) {
  CommandSpec spec;
  spec.argv = {"/bin/sh", "-c", "exec >&- 2>&-; sleep 30"};
  spec.timeout = std::chrono::milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  const CommandOutcome o = RunCommand(spec);
  EXPECT_TRUE(o.timed_out);
  EXPECT_EQ(o.signal, SIGKILL);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  spec.argv = {"/nonexistent/sbatch"};
  EXPECT_EQ(RunCommand(spec).exec_errno, ENOENT);
}

}  // namespace
}  // namespace weft::backend
