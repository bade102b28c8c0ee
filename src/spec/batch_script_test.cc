#include <gtest/gtest.h>
#include <signal.h>

#include "spec/job_spec_parser.h"

namespace weft::spec {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using Args = std::vector<std::string>;

SubmitContext Context() {
  return SubmitContext{"/home/alice/proj", {{"HOME", "/home/alice"}, {"PATH", "/usr/bin"}},
                       "alice"};
}

Result<ParsedJob> Parse(const std::string& script, const Args& options = {},
                        const SubmitContext& context = Context()) {
  return ParseBatchScript(script, options, {}, context);
}

// The spec for "#!/bin/bash\n" + `directives` + "srun train.py\n".
model::JobSpec SpecOf(const std::string& directives, const Args& options = {}) {
  const auto job = Parse("#!/bin/bash\n" + directives + "srun train.py\n", options);
  EXPECT_TRUE(job.has_value()) << job.error().message;
  return job ? job->spec : model::JobSpec{};
}

std::string ErrorOf(const std::string& directives, const Args& options = {}) {
  const auto job = Parse("#!/bin/bash\n" + directives + "srun train.py\n", options);
  if (job) return "(parsed)";
  EXPECT_EQ(job.error().code, ErrorCode::kInvalidArgument);
  return job.error().message;
}

TEST(ParseBatchScriptTest, FillsTheSpecFromScriptAndContext) {
  const std::string script = "#!/bin/bash\n#SBATCH -J train\necho hi\n";

  const auto job = ParseBatchScript(script, {}, {"--epochs", "3"}, Context());

  ASSERT_TRUE(job.has_value()) << job.error().message;
  const model::JobSpec& spec = job->spec;
  EXPECT_EQ(spec.name, "train");
  EXPECT_EQ(spec.script, script);
  EXPECT_EQ(spec.args, (Args{"--epochs", "3"}));
  EXPECT_EQ(spec.submit_dir, "/home/alice/proj");
  EXPECT_EQ(spec.work_dir, "/home/alice/proj");
  EXPECT_EQ(spec.user, "alice");
  EXPECT_EQ(spec.env, Context().env);  // --export=ALL by default
  EXPECT_EQ(spec.num_nodes, 1);
  EXPECT_EQ(spec.tasks_per_node, 1);
  EXPECT_EQ(spec.cpus_per_task, 1);
  EXPECT_EQ(spec.per_node, (model::Resources{1000, 0, 0}));
  EXPECT_FALSE(spec.time_limit.has_value());
  EXPECT_TRUE(job->warnings.empty());
}

TEST(ParseBatchScriptTest, NameStaysEmptyWhenUnset) {
  EXPECT_EQ(SpecOf("").name, "");
}

TEST(ParseBatchScriptTest, NodeOptionForms) {
  for (const char* directive : {"#SBATCH -N2\n", "#SBATCH -N 2\n", "#SBATCH --nodes 2\n",
                                "#SBATCH --nodes=2\n", "#WEFT --num-nodes=2\n"}) {
    SCOPED_TRACE(directive);
    EXPECT_EQ(SpecOf(directive).num_nodes, 2);
  }
}

TEST(ParseBatchScriptTest, GresGpuWithType) {
  const model::JobSpec spec = SpecOf("#SBATCH --gres=gpu:a100:2\n");
  EXPECT_EQ(spec.per_node.gpus, 2);
  EXPECT_EQ(spec.gpu_model, "a100");
}

TEST(ParseBatchScriptTest, CpusPerTaskTimesTasksPerNode) {
  const model::JobSpec spec = SpecOf("#SBATCH -c 4 --ntasks-per-node=2\n");
  EXPECT_EQ(spec.per_node.cpu_milli, 8000);
  EXPECT_EQ(spec.cpus_per_task, 4);
  EXPECT_EQ(spec.tasks_per_node, 2);
}

TEST(ParseBatchScriptTest, TasksSpreadOverNodes) {
  const model::JobSpec spread = SpecOf("#SBATCH -n 7 -N 2\n");
  EXPECT_EQ(spread.num_nodes, 2);
  EXPECT_EQ(spread.tasks_per_node, 4);  // ceil(7 / 2)

  const model::JobSpec sized = SpecOf("#SBATCH -n 16 --ntasks-per-node 8\n");
  EXPECT_EQ(sized.num_nodes, 2);
  EXPECT_EQ(sized.tasks_per_node, 8);

  EXPECT_EQ(ErrorOf("#SBATCH -n 10 -N 2 --ntasks-per-node=4\n"),
            "--ntasks: 10 tasks do not fit in 4 per node on 2 node(s)");
}

TEST(ParseBatchScriptTest, NodeRangeTakesTheMinimumWithAWarning) {
  const auto job = Parse("#!/bin/bash\n#SBATCH -N 2-4\ntrue\n");
  ASSERT_TRUE(job.has_value()) << job.error().message;
  EXPECT_EQ(job->spec.num_nodes, 2);
  EXPECT_EQ(job->warnings, (Args{"--nodes=2-4: node count ranges are not supported; asking for "
                                 "the minimum, 2 nodes"}));
}

TEST(ParseBatchScriptTest, GpuOptions) {
  struct Case {
    const char* directives;
    std::int64_t gpus;
    const char* model;
  };
  const Case kCases[] = {
      {"#SBATCH --gres=gpu:2\n", 2, ""},
      {"#SBATCH --gpus-per-node=h100:4\n", 4, "h100"},
      {"#SBATCH -N 2 -G 16\n", 8, ""},
      {"#SBATCH -N 2 --gpus=a100:16\n", 8, "a100"},
      {"#SBATCH --ntasks-per-node=8 --gpus-per-task=1\n", 8, ""},
      {"#SBATCH --gpus-per-node=8 --gpus-per-task=1 --ntasks-per-node=8\n", 8, ""},
      {"#SBATCH -N 2 --gpus-per-node=4 -G 8\n", 4, ""},
      {"#WEFT --gpus H100:8\n", 8, "H100"},
      {"#SBATCH --gpus-per-node=4\n#WEFT --gpus=8\n", 8, ""},  // #WEFT wins over #SBATCH
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.directives);
    const model::JobSpec spec = SpecOf(c.directives);
    EXPECT_EQ(spec.per_node.gpus, c.gpus);
    EXPECT_EQ(spec.gpu_model, c.model);
  }
}

TEST(ParseBatchScriptTest, GpuConflicts) {
  EXPECT_EQ(ErrorOf("#SBATCH --gres=gpu:2\n#SBATCH --gpus-per-node=2\n"),
            "line 3: --gres and --gpus-per-node are mutually exclusive");
  EXPECT_EQ(ErrorOf("#SBATCH -N 4 -G 6\n"), "--gpus: 6 GPUs do not divide evenly among 4 nodes");
  EXPECT_EQ(ErrorOf("#SBATCH -N 2 --gpus-per-node=4 -G 6\n"),
            "--gpus=6 does not match --gpus-per-node (4 per node on 2 node(s))");
  EXPECT_EQ(ErrorOf("#SBATCH --gpus-per-node=2 --gpus-per-task=1 --ntasks-per-node=4\n"),
            "--gpus-per-task: 1 GPU(s) for each of 4 tasks per node is more than the 2 GPUs per "
            "node requested");
  EXPECT_EQ(ErrorOf("#SBATCH --gpus-per-node=a100:2 --gpus-per-task=h100:1\n"),
            "--gpus-per-node asks for a100 GPUs but --gpus-per-task asks for h100");
}

TEST(ParseBatchScriptTest, MemoryForms) {
  struct Case {
    const char* directives;
    std::int64_t bytes;
  };
  const Case kCases[] = {
      {"#SBATCH --mem=4G\n", 4LL << 30},
      {"#SBATCH --mem=1024\n", 1024LL << 20},
      {"#SBATCH --mem=0\n", 0},  // all of the node's memory: no reservation
      {"#SBATCH -c 4 --mem-per-cpu=2G\n", 8LL << 30},
      {"#SBATCH -c 2 --ntasks-per-node=2 --mem-per-cpu=1G\n", 4LL << 30},
      {"#SBATCH --gpus-per-node=2 --mem-per-gpu=10G\n", 20LL << 30},
      {"#WEFT --memory=256G\n", 256LL << 30},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.directives);
    EXPECT_EQ(SpecOf(c.directives).per_node.memory_bytes, c.bytes);
  }
  EXPECT_EQ(ErrorOf("#SBATCH --mem=4G\n#SBATCH --mem-per-gpu=1G\n"),
            "line 3: --mem and --mem-per-gpu are mutually exclusive");
  EXPECT_EQ(ErrorOf("#SBATCH --mem-per-gpu=1G\n"), "--mem-per-gpu: the job requests no GPUs");
}

TEST(ParseBatchScriptTest, CpuForms) {
  const model::JobSpec per_node = SpecOf("#WEFT --cpus 32\n");
  EXPECT_EQ(per_node.per_node.cpu_milli, 32000);
  EXPECT_EQ(per_node.cpus_per_task, 32);

  const model::JobSpec per_gpu = SpecOf("#SBATCH --gpus-per-node=8 --cpus-per-gpu=4 -n 8\n");
  EXPECT_EQ(per_gpu.per_node.cpu_milli, 32000);
  EXPECT_EQ(per_gpu.cpus_per_task, 4);

  EXPECT_EQ(ErrorOf("#WEFT --cpus 30\n#SBATCH --ntasks-per-node=4\n"),
            "--cpus: 30 CPUs per node do not divide evenly among 4 tasks per node");
}

TEST(ParseBatchScriptTest, DirectivesStopAtTheFirstCommand) {
  const model::JobSpec spec = SpecOf(
      "\n# a comment\n#SBATCH -N 2\n   \n  # indented comment\n#SBATCH -c 2\n"
      "module load cuda\n#SBATCH -N 3\n");
  EXPECT_EQ(spec.num_nodes, 2);
  EXPECT_EQ(spec.cpus_per_task, 2);
}

TEST(ParseBatchScriptTest, OnlyDirectivesAtTheStartOfALineCount) {
  // As in sbatch: an indented "#SBATCH" and "##SBATCH" are plain comments.
  const model::JobSpec spec = SpecOf("  #SBATCH -N 3\n##SBATCH -N 4\n#SBATCH -c 2\n");
  EXPECT_EQ(spec.num_nodes, 1);
  EXPECT_EQ(spec.cpus_per_task, 2);
}

TEST(ParseBatchScriptTest, TrailingCommentsAndQuotes) {
  const model::JobSpec spec =
      SpecOf("#SBATCH --time=1:00:00   # one hour\n#SBATCH -J \"my job\" # named\n");
  EXPECT_EQ(spec.time_limit, std::optional<Duration>(hours(1)));
  EXPECT_EQ(spec.name, "my job");
}

TEST(ParseBatchScriptTest, TimeFormatsInDirectives) {
  EXPECT_EQ(SpecOf("#SBATCH -t 2-12:30\n").time_limit,
            std::optional<Duration>(hours(60) + minutes(30)));
  EXPECT_EQ(SpecOf("#SBATCH --time=90\n").time_limit, std::optional<Duration>(minutes(90)));
  EXPECT_FALSE(SpecOf("#SBATCH --time=UNLIMITED\n").time_limit.has_value());
}

TEST(ParseBatchScriptTest, CommandLineOverridesDirectives) {
  const model::JobSpec spec = SpecOf("#SBATCH -N 2 -J dir --mem-per-cpu=1G -t 10\n",
                                     {"-N", "4", "--mem=8G", "--time=UNLIMITED"});
  EXPECT_EQ(spec.num_nodes, 4);
  EXPECT_EQ(spec.name, "dir");
  EXPECT_EQ(spec.per_node.memory_bytes, 8LL << 30);  // the memory group is replaced whole
  EXPECT_FALSE(spec.time_limit.has_value());
}

TEST(ParseBatchScriptTest, CommandLineGpusReplaceDirectiveGpus) {
  const model::JobSpec spec = SpecOf("#SBATCH --gres=gpu:a100:8\n", {"--gpus", "2"});
  EXPECT_EQ(spec.per_node.gpus, 2);
  EXPECT_EQ(spec.gpu_model, "");
}

TEST(ParseBatchScriptTest, SbatchVariablesSitBetweenDirectivesAndCommandLine) {
  SubmitContext context = Context();
  context.env["SBATCH_JOB_NAME"] = "from-env";
  context.env["SBATCH_PARTITION"] = "gpu";
  const std::string script = "#!/bin/bash\n#SBATCH -J from-script -p cpu -N 2\ntrue\n";

  const auto env_wins = Parse(script, {}, context);
  const auto cli_wins = Parse(script, {"-J", "from-cli"}, context);

  ASSERT_TRUE(env_wins.has_value()) << env_wins.error().message;
  EXPECT_EQ(env_wins->spec.name, "from-env");
  EXPECT_EQ(env_wins->spec.pools, (Args{"gpu"}));
  EXPECT_EQ(env_wins->spec.num_nodes, 2);
  ASSERT_TRUE(cli_wins.has_value()) << cli_wins.error().message;
  EXPECT_EQ(cli_wins->spec.name, "from-cli");
}

TEST(ParseBatchScriptTest, SchedulingFields) {
  const model::JobSpec spec = SpecOf(
      "#SBATCH -p a,b -A team-nlp --priority=10 --nice=3 --exclusive --requeue\n"
      "#SBATCH -o logs/%x-%j.out -e logs/%x-%j.err\n"
      "#WEFT --preemptible --max-retries 2 --env BATCH=64\n");
  EXPECT_EQ(spec.pools, (Args{"a", "b"}));
  EXPECT_EQ(spec.queue, "team-nlp");
  EXPECT_EQ(spec.priority, 7);
  EXPECT_TRUE(spec.exclusive);
  EXPECT_TRUE(spec.requeue);
  EXPECT_TRUE(spec.preemptible);
  EXPECT_EQ(spec.max_retries, 2);
  EXPECT_EQ(spec.output_pattern, "logs/%x-%j.out");
  EXPECT_EQ(spec.error_pattern, "logs/%x-%j.err");
  EXPECT_EQ(spec.env.at("BATCH"), "64");
  EXPECT_EQ(spec.env.at("HOME"), "/home/alice");
  EXPECT_FALSE(SpecOf("#SBATCH --requeue\n", {"--no-requeue"}).requeue);
}

TEST(ParseBatchScriptTest, PreemptibleJobsRequeueByDefault) {
  const model::JobSpec plain = SpecOf("");
  EXPECT_FALSE(plain.requeue);
  EXPECT_EQ(plain.max_retries, 0);
  const model::JobSpec preemptible = SpecOf("#WEFT --preemptible\n");
  EXPECT_TRUE(preemptible.requeue);
  EXPECT_EQ(preemptible.max_retries, model::kDefaultPreemptRequeues);
  const model::JobSpec no_requeue = SpecOf("#WEFT --preemptible\n", {"--no-requeue"});
  EXPECT_FALSE(no_requeue.requeue);
  EXPECT_EQ(no_requeue.max_retries, 0);
  EXPECT_EQ(SpecOf("#WEFT --preemptible --max-retries=1\n").max_retries, 1);
  EXPECT_EQ(SpecOf("#SBATCH --requeue\n").max_retries, model::kDefaultPreemptRequeues);
}

TEST(ParseBatchScriptTest, RequireIsolationIsAWeftSwitch) {
  EXPECT_FALSE(SpecOf("").require_isolation);
  EXPECT_TRUE(SpecOf("#WEFT --require-isolation\n").require_isolation);
  EXPECT_FALSE(SpecOf("#WEFT --require-isolation\n", {"--require-isolation=false"}).require_isolation);
}

TEST(ParseBatchScriptTest, SignalIsParsedWithSlurmDefaults) {
  const model::JobSpec usr1 = SpecOf("#SBATCH --signal=USR1\n");
  ASSERT_TRUE(usr1.signal.has_value());
  EXPECT_EQ(usr1.signal->signal, SIGUSR1);
  EXPECT_EQ(usr1.signal->before, std::chrono::seconds(60));
  EXPECT_FALSE(usr1.signal->batch_only);

  const model::JobSpec batch = SpecOf("#SBATCH --signal=B:SIGUSR2@90\n");
  ASSERT_TRUE(batch.signal.has_value());
  EXPECT_EQ(batch.signal->signal, SIGUSR2);
  EXPECT_EQ(batch.signal->before, std::chrono::seconds(90));
  EXPECT_TRUE(batch.signal->batch_only);

  const model::JobSpec numeric = SpecOf("", {"--signal=R:10@0"});
  ASSERT_TRUE(numeric.signal.has_value());
  EXPECT_EQ(numeric.signal->signal, 10);
  EXPECT_EQ(numeric.signal->before, std::chrono::seconds(0));
  EXPECT_FALSE(SpecOf("").signal.has_value());
}

TEST(ParseBatchScriptTest, BadSignalNamesTheOption) {
  const std::string usage = "is not [{R|B}:]SIG[@SECS] (examples: USR1, B:USR1@90, 10@120)";
  EXPECT_EQ(ErrorOf("#SBATCH --signal=FOO\n"), "line 2: --signal: 'FOO' " + usage);
  EXPECT_EQ(ErrorOf("", {"--signal=USR1@soon"}), "--signal: 'USR1@soon' " + usage);
  EXPECT_EQ(ErrorOf("", {"--signal=X:USR1"}), "--signal: 'X:USR1' " + usage);
  EXPECT_EQ(ErrorOf("", {"--signal=65"}), "--signal: '65' " + usage);
  EXPECT_EQ(ErrorOf("", {"--signal=USR1@70000"}), "--signal: 'USR1@70000' " + usage);
}

TEST(ParseBatchScriptTest, ChdirIsRelativeToTheSubmitDir) {
  EXPECT_EQ(SpecOf("#SBATCH -D runs/1\n").work_dir, "/home/alice/proj/runs/1");
  EXPECT_EQ(SpecOf("#SBATCH --chdir=../data/\n").work_dir, "/home/alice/data");
  EXPECT_EQ(SpecOf("#SBATCH --chdir=/scratch\n").work_dir, "/scratch");
}

TEST(ParseBatchScriptTest, ExportRules) {
  EXPECT_TRUE(SpecOf("#SBATCH --export=NONE\n").env.empty());
  EXPECT_EQ(SpecOf("#SBATCH --export=ALL,A=1,B=2\n").env,
            (std::map<std::string, std::string>{
                {"A", "1"}, {"B", "2"}, {"HOME", "/home/alice"}, {"PATH", "/usr/bin"}}));
  EXPECT_EQ(SpecOf("#SBATCH --export=A=1,HOME,MISSING\n").env,
            (std::map<std::string, std::string>{{"A", "1"}, {"HOME", "/home/alice"}}));
  EXPECT_EQ(SpecOf("#SBATCH --export=NONE\n#WEFT --env X=1\n").env,
            (std::map<std::string, std::string>{{"X", "1"}}));
}

TEST(ParseBatchScriptTest, ClientFlags) {
  const auto job = Parse("#!/bin/bash\n#SBATCH --parsable\ntrue\n", {"-W"});
  ASSERT_TRUE(job.has_value()) << job.error().message;
  EXPECT_TRUE(job->flags.parsable);
  EXPECT_TRUE(job->flags.wait);
}

TEST(ParseBatchScriptTest, IgnoredDirectivesBecomeWarnings) {
  const auto job = Parse(
      "#!/bin/bash\n#SBATCH --hint=nomultithread\n#SBATCH --qos=high --mail-user=a@b\n"
      "#SBATCH --hint=compute_bound\ntrue\n");
  ASSERT_TRUE(job.has_value()) << job.error().message;
  EXPECT_EQ(job->warnings, (Args{"ignored: --hint", "ignored: --qos", "ignored: --mail-user"}));
}

TEST(ParseBatchScriptTest, ErrorsNameTheLineAndTheProblem) {
  struct Case {
    const char* directives;
    const char* message;
  };
  const Case kCases[] = {
      {"#SBATCH -N 2\n#SBATCH --foo=1\n", "line 3: unknown #SBATCH directive '--foo'"},
      {"#WEFT --bar\n", "line 2: unknown #WEFT directive '--bar'"},
      {"#SBATCH --preemptible\n",
       "line 2: unknown #SBATCH directive '--preemptible' (Weft's own options go in #WEFT "
       "directives)"},
      {"#SBATCH --mem=lots\n", "line 2: --mem: 'lots' is not a size (examples: 4G, 512M)"},
      {"#SBATCH --array=0-9%0\n",
       "line 2: --array: the limit after '%' in '0-9%0' must be a count of at least 1"},
      {"#SBATCH --dependency=aftercorr:1\n",
       "line 2: --dependency: 'aftercorr:1' is not a dependency (types: after, afterany, afterok, "
       "afternotok, singleton)"},
      {"#SBATCH -J \"open\n", "line 2: unterminated double quote in #SBATCH directive"},
      {"#SBATCH -N 2 train\n",
       "line 2: unexpected argument 'train' in #SBATCH directive (options start with '-')"},
      {"#SBATCH -N 1\n#SBATCH hetjob\n#SBATCH -N 2\n",
       "line 3: heterogeneous jobs are not supported yet"},
      {"#SBATCH --time\n", "line 2: option '--time' needs a value"},
      {"#SBATCH -N 0\n", "num_nodes: must be at least 1"},
      {"#SBATCH -c 0\n", "cpus_per_task: must be at least 1"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.directives);
    EXPECT_EQ(ErrorOf(c.directives), c.message);
  }
  EXPECT_EQ(ErrorOf("", {"--bogus"}), "unknown option '--bogus'");
}

TEST(ParseBatchScriptTest, ArrayAndDependencyDirectives) {
  const model::JobSpec spec =
      SpecOf("#SBATCH --array=0-99%8\n#SBATCH -d afterok:12:13,singleton\n");
  EXPECT_EQ(spec.array.Indices().size(), 100u);
  EXPECT_EQ(spec.array.max_running, 8);
  EXPECT_EQ(model::ToString(spec.dependency), "afterok:12:13,singleton");
  // The command line replaces a directive's array and dependency whole.
  const model::JobSpec over = SpecOf("#SBATCH -a 0-9\n#SBATCH --dependency=after:4\n",
                                     {"--array=1,3", "-d", "afterany:5"});
  EXPECT_EQ(over.array.Indices(), (std::vector<int>{1, 3}));
  EXPECT_EQ(model::ToString(over.dependency), "afterany:5");
  EXPECT_TRUE(SpecOf("").array.empty());
  EXPECT_TRUE(SpecOf("").dependency.empty());
}

TEST(ParseBatchScriptTest, RequiresAShebang) {
  const auto job = Parse("#SBATCH -N 2\necho hi\n");
  ASSERT_FALSE(job.has_value());
  EXPECT_EQ(job.error().message,
            "the script must start with '#!' followed by an interpreter (for example "
            "#!/bin/bash)");
}

TEST(ParseBatchScriptTest, ValidatesTheContext) {
  SubmitContext context = Context();
  context.submit_dir = "relative/dir";
  const auto job = Parse("#!/bin/bash\ntrue\n", {}, context);
  ASSERT_FALSE(job.has_value());
  EXPECT_EQ(job.error().message, "submit_dir: 'relative/dir' is not an absolute path");
}

TEST(ParseBatchScriptTest, TopologyIsAWeftOption) {
  EXPECT_EQ(SpecOf("#WEFT --max-pending=90s\n").max_pending, std::chrono::seconds(90));
  EXPECT_EQ(SpecOf("#WEFT --max-pending 5\n").max_pending, std::chrono::minutes(5));  // as --time
  EXPECT_EQ(SpecOf("#WEFT --max-pending 0:30\n").max_pending, std::chrono::seconds(30));
  EXPECT_EQ(SpecOf("").max_pending, std::nullopt);
  EXPECT_NE(ErrorOf("#WEFT --max-pending=soon\n").find("--max-pending"), std::string::npos);
  EXPECT_NE(ErrorOf("#WEFT --max-pending=3x\n").find("--max-pending: '3x' is not a duration"), std::string::npos);
  EXPECT_EQ(SpecOf("#WEFT --topology=rack\n").topology, "rack");
  EXPECT_EQ(SpecOf("").topology, "");
  // The command line overrides a directive.
  EXPECT_EQ(SpecOf("#WEFT --topology switch\n", {"--topology=zone"}).topology, "zone");
  EXPECT_EQ(ErrorOf("#WEFT --topology=row\n"),
            "line 2: --topology: 'row' is not one of switch, rack, zone");
  // Slurm has no such option (its --switches is a different, ignored knob).
  EXPECT_EQ(ErrorOf("#SBATCH --topology=rack\n"),
            "line 2: unknown #SBATCH directive '--topology' (Weft's own options go in #WEFT "
            "directives)");
}

// Values that parse but no machine has get Validate's error naming the field; bytes that are not
// UTF-8 (the spec travels as JSON) are refused rather than replaced.
TEST(ParseBatchScriptTest, AbsurdValuesAreRefusedNamingTheField) {
  EXPECT_EQ(ErrorOf("#SBATCH -N 1000000\n"), "num_nodes: 1000000 is out of range (1 to 100000)");
  EXPECT_EQ(ErrorOf("#SBATCH --gpus-per-node=5000\n"), "gpus: 5000 is out of range (0 to 4096)");
  EXPECT_EQ(ErrorOf("#SBATCH --mem=100T\n"), "memory: 109951162777600 is out of range (0 to 70368744177664)");
  EXPECT_EQ(ErrorOf("#SBATCH -N 99999999999\n"), "line 2: --nodes: 99999999999 is too large (at most 1000000)");
  EXPECT_EQ(ErrorOf("#SBATCH -J caf\xe9\n"), "name: is not valid UTF-8");
}

}  // namespace
}  // namespace weft::spec
