#include <gtest/gtest.h>

#include "spec/job_spec_parser.h"

namespace weft::spec {
namespace {

using Args = std::vector<std::string>;

SubmitContext Context() { return SubmitContext{"/work", {{"PATH", "/usr/bin"}}, "bob"}; }

TEST(ParseCommandJobTest, WrapsTheCommandInAnExecScript) {
  const auto job = ParseCommandJob({}, {"python", "train.py", "--lr", "3e-4"}, Context());

  ASSERT_TRUE(job.has_value()) << job.error().message;
  EXPECT_EQ(job->spec.script, "#!/bin/sh\nexec python train.py --lr 3e-4\n");
  EXPECT_EQ(job->spec.name, "python");
  EXPECT_TRUE(job->spec.args.empty());
  EXPECT_EQ(job->spec.work_dir, "/work");
  EXPECT_EQ(job->spec.user, "bob");
  EXPECT_EQ(job->spec.env, Context().env);
}

TEST(ParseCommandJobTest, QuotesWordsTheShellWouldChange) {
  const auto job =
      ParseCommandJob({}, {"echo", "hello world", "it's", "$HOME", "*", ""}, Context());

  ASSERT_TRUE(job.has_value()) << job.error().message;
  EXPECT_EQ(job->spec.script,
            "#!/bin/sh\nexec echo 'hello world' 'it'\\''s' '$HOME' '*' ''\n");
}

TEST(ParseCommandJobTest, NameDefaultsToTheProgramBaseName) {
  EXPECT_EQ(ParseCommandJob({}, {"/usr/bin/python3", "x.py"}, Context())->spec.name, "python3");
  EXPECT_EQ(ParseCommandJob({}, {"./run.sh"}, Context())->spec.name, "run.sh");
  EXPECT_EQ(ParseCommandJob({"-J", "mine"}, {"./run.sh"}, Context())->spec.name, "mine");
  EXPECT_EQ(ParseCommandJob({"--name=weft"}, {"./run.sh"}, Context())->spec.name, "weft");
}

TEST(ParseCommandJobTest, OptionsShapeTheJob) {
  const auto job = ParseCommandJob({"-N", "2", "--gpus", "A100:4", "-c8", "--time=30m"},
                                   {"nvidia-smi"}, Context());

  ASSERT_TRUE(job.has_value()) << job.error().message;
  EXPECT_EQ(job->spec.num_nodes, 2);
  EXPECT_EQ(job->spec.per_node, (model::Resources{8000, 0, 4}));
  EXPECT_EQ(job->spec.gpu_model, "A100");
  EXPECT_EQ(job->spec.time_limit, std::optional<Duration>(std::chrono::minutes(30)));
}

TEST(ParseCommandJobTest, Errors) {
  EXPECT_EQ(ParseCommandJob({}, {}, Context()).error().message,
            "command: missing; give the command to run after the options, e.g. weft run -N 2 -- "
            "python train.py");
  EXPECT_EQ(ParseCommandJob({"--bogus"}, {"true"}, Context()).error().message,
            "unknown option '--bogus'");
  EXPECT_EQ(ParseCommandJob({"-N", "2", "stray"}, {"true"}, Context()).error().message,
            "unexpected argument 'stray' among the options");
  EXPECT_EQ(ParseCommandJob({"--array=0-3"}, {"true"}, Context()).error().message,
            "--array: not available with weft run; submit arrays with weft submit");
}

}  // namespace
}  // namespace weft::spec
