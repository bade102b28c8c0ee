#include "spec/submit_options.h"

#include <gtest/gtest.h>

#include "spec/job_spec_parser.h"

namespace weft::spec {
namespace {

using Args = std::vector<std::string>;

TEST(CommandLineOptionsTest, LongAndShortFormsAreEquivalent) {
  for (const Args& args : {Args{"-N2"}, Args{"-N", "2"}, Args{"--nodes=2"}, Args{"--nodes", "2"},
                           Args{"--num-nodes", "2"}}) {
    SCOPED_TRACE(args[0]);
    const auto layer = ParseCommandLineOptions(args);
    ASSERT_TRUE(layer.has_value()) << layer.error().message;
    EXPECT_EQ(layer->num_nodes, 2);
  }
}

TEST(CommandLineOptionsTest, BundledShortFlagsAndAttachedValues) {
  const auto layer = ParseCommandLineOptions({"-WJtrain", "-c8"});
  ASSERT_TRUE(layer.has_value()) << layer.error().message;
  EXPECT_EQ(layer->wait, true);
  EXPECT_EQ(layer->name, "train");
  ASSERT_TRUE(layer->cpus.has_value());
  EXPECT_EQ(layer->cpus->value, 8);
}

TEST(CommandLineOptionsTest, ErrorsNameTheOption) {
  struct Case {
    Args args;
    const char* message;
  };
  const Case kCases[] = {
      {{"--foo"}, "unknown option '--foo'"},
      {{"--foo=1"}, "unknown option '--foo'"},
      {{"-Z"}, "unknown option '-Z'"},
      {{"--time"}, "option '--time' needs a value"},
      {{"-t"}, "option '-t' needs a value"},
      {{"--parsable=yes"}, "option '--parsable' takes no value"},
      {{"--mem=lots"}, "--mem: 'lots' is not a size (examples: 4G, 512M)"},
      {{"--mem", "4G", "--mem-per-gpu", "1G"}, "--mem and --mem-per-gpu are mutually exclusive"},
      {{"--memory=4G", "--mem-per-cpu=1G"}, "--memory and --mem-per-cpu are mutually exclusive"},
      {{"--gres=gpu:2", "--gpus-per-node=2"}, "--gres and --gpus-per-node are mutually exclusive"},
      {{"-c", "2", "--cpus", "8"}, "--cpus-per-task and --cpus are mutually exclusive"},
      {{"--gres=shard:2"},
       "--gres: only GPUs can be requested, not 'shard' (example: --gres=gpu:a100:2)"},
      {{"--array=5-1"}, "--array: '5-1' has its first index above its last"},
      {{"-d", "afterok"}, "--dependency: 'afterok' names no job (example: afterok:12)"},
      {{"--time=abc"},
       "--time: 'abc' is not a time limit (examples: 90, 1:30:00, 2-12:00:00, 48h, UNLIMITED)"},
      {{"--job-name="}, "--job-name: the value is empty"},
      {{"--env", "NOVALUE"}, "--env: 'NOVALUE' is not KEY=VALUE"},
      {{"--env", "1X=2"}, "--env: '1X' is not a variable name"},
      {{"--export=ALL,A-B=1"}, "--export: 'A-B' is not a variable name"},
      {{"-p", "a,,b"}, "--partition: 'a,,b' contains an empty pool name"},
      {{"--exclusive=maybe"}, "--exclusive: 'maybe' is not one of user, mcs, topo"},
      {{"-N", "4-2"}, "--nodes: '4-2' has its minimum above its maximum"},
      {{"-N", "2", "train.sh"}, "unexpected argument 'train.sh' among the options"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.message);
    const auto layer = ParseCommandLineOptions(c.args);
    ASSERT_FALSE(layer.has_value());
    EXPECT_EQ(layer.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(layer.error().message, c.message);
  }
}

TEST(CommandLineOptionsTest, TierThreeKnobsAreIgnoredWithAWarning) {
  const auto layer = ParseCommandLineOptions(
      {"--hint=nomultithread", "-q", "high", "--mail-type=END",
       "--threads-per-core=1", "--distribution", "block"});
  ASSERT_TRUE(layer.has_value()) << layer.error().message;
  EXPECT_EQ(layer->warnings, (std::vector<std::string>{"ignored: --hint", "ignored: --qos",
                                                       "ignored: --mail-type",
                                                       "ignored: --threads-per-core",
                                                       "ignored: --distribution"}));
}

TEST(OptionTableTest, GpusMeansPerNodeInWeftAndTotalInSbatch) {
  SubmitOptions weft;
  ASSERT_TRUE(ApplyOption({FindLongOption("gpus", Dialect::kWeft), "H100:8"}, weft));
  ASSERT_TRUE(weft.gpus.per_node.has_value());
  EXPECT_EQ(weft.gpus.per_node->count, 8);
  EXPECT_EQ(weft.gpus.per_node->model, "H100");

  SubmitOptions sbatch;
  ASSERT_TRUE(ApplyOption({FindLongOption("gpus", Dialect::kSbatch), "16"}, sbatch));
  ASSERT_TRUE(sbatch.gpus.total.has_value());
  EXPECT_EQ(sbatch.gpus.total->count, 16);

  EXPECT_EQ(FindShortOption('G', Dialect::kWeft), FindLongOption("gpus", Dialect::kSbatch));
  EXPECT_EQ(FindLongOption("preemptible", Dialect::kSbatch), nullptr);
  EXPECT_NE(FindLongOption("preemptible", Dialect::kWeft), nullptr);
}

TEST(OptionTableTest, EveryNameIsUniquePerDialect) {
  for (Dialect dialect : {Dialect::kSbatch, Dialect::kWeft}) {
    for (const char* name : {"gpus", "time", "nodes", "mem", "job-name", "export"}) {
      const OptionDef* def = FindLongOption(name, dialect);
      ASSERT_NE(def, nullptr) << name;
      EXPECT_EQ(def->long_name, name);
    }
  }
}

TEST(SbatchEnvironmentTest, MapsInputVariablesOntoOptions) {
  const auto layer = ParseSbatchEnvironment({{"SBATCH_JOB_NAME", "envjob"},
                                             {"SBATCH_PARTITION", "a,b"},
                                             {"SBATCH_TIMELIMIT", "10"},
                                             {"SBATCH_EXCLUSIVE", "1"},
                                             {"SBATCH_ACCOUNT", ""},
                                             {"HOME", "/home/alice"}});
  ASSERT_TRUE(layer.has_value()) << layer.error().message;
  EXPECT_EQ(layer->name, "envjob");
  EXPECT_EQ(layer->pools, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(layer->time_limit, std::optional<Duration>(std::chrono::minutes(10)));
  EXPECT_EQ(layer->exclusive, true);
  EXPECT_FALSE(layer->queue.has_value());
}

TEST(SbatchEnvironmentTest, ErrorsNameTheVariable) {
  const auto layer = ParseSbatchEnvironment({{"SBATCH_TIMELIMIT", "soon"}});
  ASSERT_FALSE(layer.has_value());
  EXPECT_EQ(layer.error().message,
            "SBATCH_TIMELIMIT: 'soon' is not a time limit (examples: 90, 1:30:00, 2-12:00:00, "
            "48h, UNLIMITED)");
  EXPECT_EQ(ParseSbatchEnvironment({{"SBATCH_ARRAY_INX", "1-x"}}).error().message,
            "SBATCH_ARRAY_INX: '1-x' is not an index list (examples: 0-99%8, 1,3,5-7, 0-15:4)");
  const auto array = ParseSbatchEnvironment({{"SBATCH_ARRAY_INX", "1-4%2"}});
  ASSERT_TRUE(array.has_value());
  ASSERT_TRUE(array->array.has_value());
  EXPECT_EQ(array->array->max_running, 2);
}

TEST(SplitSubmitArgsTest, OptionsStopAtTheFirstPositional) {
  struct Case {
    Args argv;
    Args options;
    Args positional;
  };
  const Case kCases[] = {
      {{"-J", "name", "--exclusive", "train.sh", "--lr", "3"},
       {"-J", "name", "--exclusive"},
       {"train.sh", "--lr", "3"}},
      {{"-N2", "--", "-weird.sh", "x"}, {"-N2"}, {"-weird.sh", "x"}},
      {{"job.yaml"}, {}, {"job.yaml"}},
      {{"--nice", "run.sh"}, {"--nice"}, {"run.sh"}},  // optional value: only --nice=N
      {{"--time", "1:00", "-W"}, {"--time", "1:00", "-W"}, {}},
      {{"--", "--", "x"}, {}, {"--", "x"}},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.argv[0]);
    const auto got = SplitSubmitArgs(c.argv);
    ASSERT_TRUE(got.has_value()) << got.error().message;
    EXPECT_EQ(got->options, c.options);
    EXPECT_EQ(got->positional, c.positional);
  }
}

TEST(SplitSubmitArgsTest, FailsOnUnknownOptionOrMissingValue) {
  EXPECT_EQ(SplitSubmitArgs({"--foo", "x.sh"}).error().message, "unknown option '--foo'");
  EXPECT_EQ(SplitSubmitArgs({"-J"}).error().message, "option '-J' needs a value");
}

}  // namespace
}  // namespace weft::spec
