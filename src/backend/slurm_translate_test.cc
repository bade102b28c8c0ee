#include "backend/slurm_translate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "backend/command_runner.h"

namespace weft::backend {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

model::Job MakeJob() {
  model::Job job;
  job.id = 12;
  job.spec.name = "train";
  job.spec.num_nodes = 2;
  job.spec.tasks_per_node = 1;
  job.spec.cpus_per_task = 8;
  job.spec.per_node = {8000, 4LL << 30, 2};
  job.spec.time_limit = minutes(90);
  job.spec.work_dir = "/home/u/run";
  job.spec.submit_dir = "/home/u";
  job.spec.script = "#!/bin/bash\n#SBATCH -N 2\necho hi\n";
  job.spec.env = {{"HOME", "/home/u"},
                  {"PATH", "/opt/bin:/usr/bin"},
                  {"SLURM_JOB_ID", "99"},
                  {"SBATCH_PARTITION", "other"},
                  {"BATCH", "64"}};
  return job;
}

SlurmPoolConfig Pool() {
  SlurmPoolConfig pool;
  pool.pool = "hpc";
  pool.partition = "gpu";
  pool.account = "ml";
  return pool;
}

bool Has(const std::vector<std::string>& args, const std::string& arg) {
  return std::find(args.begin(), args.end(), arg) != args.end();
}

TEST(SlurmTranslate, ResolvedValuesBecomeSbatchOptions) {
  model::Job job = MakeJob();
  job.spec.exclusive = true;
  auto r = TranslateToSbatch(job, Pool());
  ASSERT_TRUE(r) << r.error().message;
  const auto& a = r->args;
  for (const char* want :
       {"--parsable", "--job-name=train", "--nodes=2", "--ntasks-per-node=1", "--cpus-per-task=8",
        "--mem=4096M", "--gres=gpu:2", "--time=0-01:30:00", "--exclusive", "--partition=gpu", "--account=ml",
        "--chdir=/home/u/run", "--output=weft-12.out", "--no-requeue", "--export=ALL",
        "--comment=weft-job=12,attempt=0"}) {
    EXPECT_TRUE(Has(a, want)) << want;
  }
  EXPECT_FALSE(
      std::any_of(a.begin(), a.end(), [](const std::string& s) { return s.starts_with("--error"); }));
  EXPECT_FALSE(Has(a, "--open-mode=append"));
}

TEST(SlurmTranslate, OptionalOptionsAreLeftOutAndGpusPerNodeWithModel) {
  model::Job job = MakeJob();
  job.spec.time_limit.reset();
  job.spec.per_node.memory_bytes = 0;
  job.spec.gpu_model = "a100";
  job.spec.error_pattern = "err-%j.txt";
  job.restart_count = 2;
  SlurmPoolConfig pool;
  pool.gpu_flag = SlurmGpuFlag::kGpusPerNode;
  auto r = TranslateToSbatch(job, pool);
  ASSERT_TRUE(r);
  EXPECT_TRUE(Has(r->args, "--gpus-per-node=a100:2"));
  EXPECT_TRUE(Has(r->args, "--error=err-12.txt"));
  EXPECT_TRUE(Has(r->args, "--open-mode=append"));
  for (const char* prefix : {"--time", "--mem", "--partition", "--account", "--exclusive"}) {
    EXPECT_FALSE(std::any_of(r->args.begin(), r->args.end(), [&](const std::string& s) {
      return s.starts_with(prefix);
    })) << prefix;
  }
  job.spec.per_node.gpus = 0;
  r = TranslateToSbatch(job, pool);
  EXPECT_FALSE(
      std::any_of(r->args.begin(), r->args.end(), [](const std::string& s) { return s.starts_with("--g"); }));
}

TEST(SlurmTranslate, GresWithModelAndCpusFromPerNodeResources) {
  model::Job job = MakeJob();
  job.spec.gpu_model = "h100";
  job.spec.tasks_per_node = 4;
  job.spec.cpus_per_task = 1;
  job.spec.per_node.cpu_milli = 32000;  // YAML cpus: 32 per node over 4 tasks
  auto r = TranslateToSbatch(job, Pool());
  ASSERT_TRUE(r);
  EXPECT_TRUE(Has(r->args, "--gres=gpu:h100:2"));
  EXPECT_TRUE(Has(r->args, "--ntasks-per-node=4"));
  EXPECT_TRUE(Has(r->args, "--cpus-per-task=8"));
}

TEST(SlurmTranslate, SignalAndUnnamedJobs) {
  model::Job job = MakeJob();
  job.spec.name.clear();
  job.spec.signal = model::SignalSpec{10, seconds(300), true};
  auto r = TranslateToSbatch(job, Pool());
  ASSERT_TRUE(r);
  EXPECT_TRUE(Has(r->args, "--job-name=weft-12"));
  EXPECT_TRUE(Has(r->args, "--signal=B:10@300"));
}

TEST(SlurmTranslate, TimeInSlurmsFormatRoundedUpToMinutes) {
  EXPECT_EQ(FormatSlurmTime(seconds(1)), "0-00:01:00");
  EXPECT_EQ(FormatSlurmTime(seconds(60)), "0-00:01:00");
  EXPECT_EQ(FormatSlurmTime(seconds(61)), "0-00:02:00");
  EXPECT_EQ(FormatSlurmTime(minutes(90)), "0-01:30:00");
  EXPECT_EQ(FormatSlurmTime(std::chrono::hours(51)), "2-03:00:00");
  EXPECT_EQ(FormatSlurmTime(seconds(0)), "0-00:01:00");
}

TEST(SlurmTranslate, DirectivesKeptExceptWeftsOwn) {
  const std::string script =
      "#!/bin/bash\n"
      "# a comment\n"
      "\n"
      "#SBATCH -N 2\n"
      "#SBATCH --constraint=a100 --qos high\n"
      "#SBATCH -p debug\n"
      "#SBATCH --partition=debug --mail-type=END\n"
      "#SBATCH -A team-nlp -o out.txt -eerr.txt\n"
      "#SBATCH --array=0-3%2\n"
      "#SBATCH --dependency afterok:3 --export=NONE -W --parsable\n"
      "#SBATCH --mail-user 'a b' # trailing comment\n"
      "#SBATCH -c 4 --mem-per-cpu=1G --gres=gpu:2 -G 2 --gpus-per-node 2 -t 10 -J x --exclusive "
      "--time-min=5\n"
      "#SBATCH --ntasks=4 -n4 --ntasks-per-node 2 --mem 1G --signal=B:10@60 --comment c --nice=3\n"
      "#SBATCHX --ignored\n"
      "#WEFT --topology=rack\n"
      "echo start\n"
      "#SBATCH --mem=1G\n";
  EXPECT_EQ(
      PreservedDirectives(script),
      (std::vector<std::string>{"#SBATCH --constraint=a100 --qos high", "#SBATCH --mail-type=END",
                                "#SBATCH --mail-user 'a b'", "#SBATCH --time-min=5", "#SBATCH --nice=3"}));
}

TEST(SlurmTranslate, FilePatternsGetWeftsIds) {
  model::Job job = MakeJob();
  job.spec.name = "a%b";
  job.spec.user = "alice";
  EXPECT_EQ(TranslateFilePattern("out-%j-%x.%N.%n.%t.%%.txt", job), "out-12-a%%b.%N.%n.%t.%%.txt");
  EXPECT_EQ(TranslateFilePattern("%5j-%u-%r", job), "00012-alice-0");
  EXPECT_EQ(TranslateFilePattern("%A_%a", job), "12_4294967294");
  EXPECT_EQ(TranslateFilePattern("lit\\%j", job), "lit\\%j");
  job.array_job_id = 10;
  job.array_task_id = 2;
  EXPECT_EQ(TranslateFilePattern("%A_%a", job), "10_2");
  auto r = TranslateToSbatch(job, Pool());
  ASSERT_TRUE(r);
  EXPECT_TRUE(Has(r->args, "--output=weft-10_2.out"));
}

TEST(SlurmTranslate, InterpreterAsTheKernelSplitsIt) {
  EXPECT_EQ(Interpreter("#!/usr/bin/env python3\nprint(1)\n"),
            (std::vector<std::string>{"/usr/bin/env", "python3"}));
  EXPECT_EQ(Interpreter("#! /bin/bash -l -x\n"), (std::vector<std::string>{"/bin/bash", "-l -x"}));
  EXPECT_EQ(Interpreter("#!/bin/sh"), (std::vector<std::string>{"/bin/sh"}));
  EXPECT_EQ(Interpreter("echo no shebang\n"), (std::vector<std::string>{"/bin/bash"}));
}

TEST(SlurmTranslate, EnvironmentIsTheJobsWithoutSlurmInputs) {
  auto r = TranslateToSbatch(MakeJob(), Pool());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->env.at("PATH"), "/opt/bin:/usr/bin");
  EXPECT_EQ(r->env.at("BATCH"), "64");
  EXPECT_FALSE(r->env.contains("SLURM_JOB_ID"));
  EXPECT_FALSE(r->env.contains("SBATCH_PARTITION"));
  model::Job bare = MakeJob();
  bare.spec.env.clear();
  r = TranslateToSbatch(bare, Pool());
  EXPECT_TRUE(r->env.contains("PATH"));
}

TEST(SlurmTranslate, ScriptCarriesDirectivesPreambleAndTheUserScriptVerbatim) {
  model::Job job = MakeJob();
  job.spec.script =
      "#!/bin/bash\n#SBATCH --qos=high\nWEFT_JOB_SCRIPT_END\necho 'it''s' $HOME";  // no final newline
  auto r = TranslateToSbatch(job, Pool());
  ASSERT_TRUE(r);
  const std::string& b = r->script;
  EXPECT_TRUE(b.starts_with("#!/bin/bash\n#SBATCH --qos=high\n# Weft job 12")) << b;
  EXPECT_NE(b.find("export WEFT_JOB_ID='12'\n"), std::string::npos);
  EXPECT_NE(b.find("export WEFT_NUM_NODES='2'\n"), std::string::npos);
  EXPECT_NE(b.find("SLURM_TASK_PROLOG"), std::string::npos);  // 2 nodes: per-rank variables under srun
  // The delimiter avoids the line the script already has.
  EXPECT_NE(b.find("exec 9<<'WEFT_JOB_SCRIPT_END_1'\n" + job.spec.script + "\nWEFT_JOB_SCRIPT_END_1\n"),
            std::string::npos);
  EXPECT_TRUE(b.ends_with("exec '/bin/bash' /dev/fd/9\n"));
  job.spec.num_nodes = 1;
  EXPECT_EQ(TranslateToSbatch(job, Pool())->script.find("SLURM_TASK_PROLOG"), std::string::npos);
}

TEST(SlurmTranslate, RejectsAJobWithoutScript) {
  model::Job job = MakeJob();
  job.spec.script.clear();
  EXPECT_FALSE(TranslateToSbatch(job, Pool()));
}

// The wrapper run by bash as slurmstepd would run it (no Slurm here: scontrol is missing, so
// the node list falls back to SLURMD_NODENAME): the user's script runs under its own
// interpreter with its arguments and sees the WEFT_* variables.
std::string RunWrapper(const model::Job& job, const std::map<std::string, std::string>& slurm_env) {
  SlurmPoolConfig pool = Pool();
  pool.bin_dir = "/nonexistent-weft-bin";
  auto r = TranslateToSbatch(job, pool);
  EXPECT_TRUE(r);
  const std::string dir = ::testing::TempDir() + "weft-wrapper-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  CommandSpec spec;
  spec.argv = {"/bin/bash", "-c", "cd " + dir + " && exec /bin/bash -s"};
  spec.env = r->env;
  for (const auto& [k, v] : slurm_env) spec.env[k] = v;
  spec.stdin_text = r->script;
  spec.timeout = std::chrono::seconds(20);
  const CommandOutcome o = RunCommand(spec);
  EXPECT_EQ(o.exit_code, 0) << o.err;
  std::filesystem::remove_all(dir);
  return o.out;
}

TEST(SlurmTranslate, WrapperRunsABashScriptWithArgsAndWeftVariables) {
  model::Job job = MakeJob();
  job.spec.num_nodes = 1;
  job.master_port = 29500;
  job.spec.args = {"one two", "it's"};
  job.spec.script =
      "#!/bin/bash\n#SBATCH -N 1\nprintf '<%s>' \"$@\"; echo\n"
      "echo \"id=$WEFT_JOB_ID rank=$WEFT_NODE_RANK n=$WEFT_NUM_NODES gpus=$WEFT_GPUS_PER_NODE "
      "restart=$WEFT_RESTART_COUNT master=$MASTER_ADDR:$MASTER_PORT ips=$WEFT_NODE_IPS batch=$BATCH\"\n";
  const std::string out =
      RunWrapper(job, {{"SLURM_NODEID", "0"}, {"SLURMD_NODENAME", "n7"}, {"SLURM_JOB_ID", "5"}});
  EXPECT_NE(out.find("<one two><it's>"), std::string::npos) << out;
  EXPECT_NE(out.find("id=12 rank=0 n=1 gpus=2 restart=0 master=n7:29500 ips=n7 batch=64"), std::string::npos)
      << out;
}

TEST(SlurmTranslate, WrapperRunsAnyInterpreter) {
  if (!std::filesystem::exists("/usr/bin/python3")) GTEST_SKIP() << "python3 is not installed";
  model::Job job = MakeJob();
  job.spec.num_nodes = 1;
  job.spec.script =
      "#!/usr/bin/env python3\n#SBATCH -c 1\nimport os, sys\nprint('py', os.environ['WEFT_JOB_ID'], "
      "sys.argv[1:])\n";
  job.spec.args = {"x"};
  const std::string out =
      RunWrapper(job, {{"SLURM_NODEID", "0"}, {"SLURMD_NODENAME", "n1"}, {"SLURM_JOB_ID", "5"}});
  EXPECT_NE(out.find("py 12 ['x']"), std::string::npos) << out;
}

}  // namespace
}  // namespace weft::backend
